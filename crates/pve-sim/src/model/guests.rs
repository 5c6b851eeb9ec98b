//! Minimal QEMU guest configs (`/etc/pve/nodes/<node>/qemu-server/<vmid>.conf`, `key: value`
//! lines sorted by key like qemu-server's writer) and their disks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::pmxcfs;
use crate::sys;

pub fn conf_path(node: &str, vmid: u64) -> PathBuf {
    pmxcfs::etc_pve().join("nodes").join(node).join("qemu-server").join(format!("{vmid}.conf"))
}

/// Where guest `vmid` lives: (node, config path).
pub fn locate(vmid: u64) -> Option<(String, PathBuf)> {
    pmxcfs::guests().into_iter().find(|(id, _, _)| *id == vmid).map(|(_, n, p)| (n, p))
}

pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('[') {
            break; // snapshot sections
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            m.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    m
}

pub fn write(conf: &BTreeMap<String, String>) -> String {
    conf.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

pub fn load(vmid: u64) -> Option<(String, BTreeMap<String, String>)> {
    let (node, path) = locate(vmid)?;
    Some((node, parse(&sys::read_opt(&path)?)))
}

pub fn save(node: &str, vmid: u64, conf: &BTreeMap<String, String>) -> Result<()> {
    sys::write_str(&conf_path(node, vmid), &write(conf), 0o640)
}

/// Is `key` a disk slot (`scsi0`, `virtio1`, `sata0`, `ide2`, `efidisk0`, `tpmstate0`)?
pub fn is_disk_key(key: &str) -> bool {
    ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"].iter().any(|p| {
        key.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Disk volumes of a config: (key, volid), skipping CD-ROMs and `none`.
pub fn disks(conf: &BTreeMap<String, String>) -> Vec<(String, String)> {
    conf.iter()
        .filter(|(k, _)| is_disk_key(k))
        .filter_map(|(k, v)| {
            if v.contains("media=cdrom") {
                return None;
            }
            let volid = v.split(',').next()?.to_string();
            if volid == "none" || !volid.contains(':') {
                return None;
            }
            Some((k.clone(), volid))
        })
        .collect()
}
