//! `qm` (minimal): list, create, config, destroy. Guests never run in the lab; a disk given as
//! `STORAGE:SIZE_GB` is allocated like PVE does (zvol `rpool/data/vm-<vmid>-disk-N` on a zfspool
//! storage, a raw file on a dir storage), so replication preconditions can read real volumes.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::cli::{self, die, Kind};
use crate::model::guests;
use crate::model::storage;
use crate::model::zfs::{ZfsState, GIB};
use crate::{pmxcfs, render, sys};

fn usage(cmd: &str) -> String {
    format!("USAGE: qm {cmd} <vmid> [OPTIONS]\n")
}

fn parse_vmid(s: &str, cmd: &str) -> Result<u64> {
    match s.parse::<u64>() {
        Ok(v) if (100..=999_999_999).contains(&v) => Ok(v),
        _ => Err(cli::param_err("vmid", "invalid format - value does not look like a valid VM ID\n", &usage(cmd))),
    }
}

/// Allocate `size_gb` on `storeid` for `vmid`; returns the volid.
fn alloc_disk(storeid: &str, vmid: u64, size_gb: f64, zfs: &mut ZfsState) -> Result<String> {
    let (cfg, _) = storage::load()?;
    let Some(e) = cfg.get(storeid) else { return Err(die(format!("storage '{storeid}' does not exist"))) };
    let size = (size_gb * GIB as f64) as u64;
    match e.section_type.as_str() {
        "zfspool" => {
            let pool = e.get("pool").unwrap_or("rpool/data").to_string();
            let n = (0..).find(|i| !zfs.exists(&format!("{pool}/vm-{vmid}-disk-{i}"))).unwrap_or(0);
            let name = format!("vm-{vmid}-disk-{n}");
            zfs.create(&format!("{pool}/{name}"), Some(size), &[]).map_err(die)?;
            Ok(format!("{storeid}:{name}"))
        }
        "dir" | "nfs" => {
            let base = sys::p(e.get("path").unwrap_or("/var/lib/vz")).join("images").join(vmid.to_string());
            std::fs::create_dir_all(&base)?;
            let n = (0..).find(|i| !base.join(format!("vm-{vmid}-disk-{i}.raw")).exists()).unwrap_or(0);
            let f = std::fs::File::create(base.join(format!("vm-{vmid}-disk-{n}.raw")))?;
            f.set_len(size)?;
            Ok(format!("{storeid}:{vmid}/vm-{vmid}-disk-{n}.raw"))
        }
        other => Err(die(format!("unable to allocate disk on storage type '{other}' (lab simulator)"))),
    }
}

fn free_disk(volid: &str, zfs: &mut ZfsState) -> Result<()> {
    let Some((storeid, volname)) = volid.split_once(':') else { return Ok(()) };
    let (cfg, _) = storage::load()?;
    let Some(e) = cfg.get(storeid) else { return Ok(()) };
    match e.section_type.as_str() {
        "zfspool" => {
            let ds = format!("{}/{}", e.get("pool").unwrap_or("rpool/data"), volname);
            if zfs.exists(&ds) {
                zfs.destroy(&ds, true).map_err(die)?;
            }
        }
        _ => {
            let _ = std::fs::remove_file(sys::p(e.get("path").unwrap_or("/var/lib/vz")).join("images").join(volname));
        }
    }
    Ok(())
}

fn volume_size_gb(volid: &str, zfs: &ZfsState) -> f64 {
    let Some((storeid, volname)) = volid.split_once(':') else { return 0.0 };
    let Ok((cfg, _)) = storage::load() else { return 0.0 };
    match cfg.get(storeid) {
        Some(e) if e.section_type == "zfspool" => {
            let ds = format!("{}/{}", e.get("pool").unwrap_or("rpool/data"), volname);
            zfs.get(&ds, "volsize", true).and_then(|(v, _)| v.parse::<u64>().ok()).unwrap_or(0) as f64 / GIB as f64
        }
        Some(e) => std::fs::metadata(sys::p(e.get("path").unwrap_or("/var/lib/vz")).join("images").join(volname))
            .map(|m| m.len() as f64 / GIB as f64)
            .unwrap_or(0.0),
        None => 0.0,
    }
}

const CREATE_SPEC: cli::Spec = &[
    ("name", Kind::Str), ("memory", Kind::Int), ("cores", Kind::Int), ("sockets", Kind::Int), ("ostype", Kind::Str),
    ("net0", Kind::Str), ("net1", Kind::Str), ("scsihw", Kind::Str), ("boot", Kind::Str), ("description", Kind::Str),
    ("scsi0", Kind::Str), ("scsi1", Kind::Str), ("virtio0", Kind::Str), ("virtio1", Kind::Str), ("sata0", Kind::Str),
    ("ide0", Kind::Str), ("ide2", Kind::Str), ("efidisk0", Kind::Str), ("agent", Kind::Str), ("onboot", Kind::Bool),
    ("start", Kind::Bool), ("tags", Kind::Str), ("cpu", Kind::Str), ("balloon", Kind::Int),
];

pub fn main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("ERROR: no command specified");
        return Ok(255);
    };
    pmxcfs::require_mounted()?;
    let node = sys::hostname();
    match cmd.as_str() {
        "list" => {
            cli::parse(rest, &[("full", Kind::Bool)], Some(0), "USAGE: qm list [OPTIONS]\n")?;
            let zfs = ZfsState::load()?;
            let mut rows = Vec::new();
            for (vmid, n, path) in pmxcfs::guests() {
                if n != node || !path.to_string_lossy().contains("/qemu-server/") {
                    continue;
                }
                let conf = guests::parse(&sys::read_opt(&path).unwrap_or_default());
                let boot = guests::disks(&conf).first().map(|(_, v)| volume_size_gb(v, &zfs)).unwrap_or(0.0);
                rows.push(render::QmListRow {
                    vmid,
                    name: conf.get("name").cloned().unwrap_or_else(|| format!("VM {vmid}")),
                    status: "stopped".into(),
                    mem_mb: conf.get("memory").and_then(|m| m.parse().ok()).unwrap_or(512),
                    bootdisk_gb: boot,
                    pid: 0,
                });
            }
            print!("{}", render::qm_list(&rows));
            Ok(0)
        }
        "create" => {
            let a = cli::parse(rest, CREATE_SPEC, Some(1), &usage("create"))?;
            let vmid = parse_vmid(&a.pos[0], "create")?;
            pmxcfs::require_quorum()?;
            if let Some((n, _)) = guests::locate(vmid) {
                return Err(die(format!("unable to create VM {vmid} - VM {vmid} already exists on node '{n}'")));
            }
            let mut zfs = ZfsState::load()?;
            let mut conf: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in &a.opts {
                if k == "start" {
                    continue;
                }
                if guests::is_disk_key(k) && !v.contains("media=cdrom") {
                    let mut parts = v.splitn(2, ',');
                    let spec = parts.next().unwrap_or("");
                    let extra = parts.next();
                    if let Some((store, size)) = spec.split_once(':') {
                        if let Ok(gb) = size.parse::<f64>() {
                            let volid = alloc_disk(store, vmid, gb, &mut zfs)?;
                            let mut val = format!("{volid},size={}G", gb);
                            if let Some(x) = extra {
                                val = format!("{volid},{x},size={}G", gb);
                            }
                            conf.insert(k.clone(), val);
                            continue;
                        }
                    }
                }
                conf.insert(k.clone(), v.clone());
            }
            conf.entry("memory".into()).or_insert_with(|| "2048".into());
            conf.entry("cores".into()).or_insert_with(|| "1".into());
            conf.insert("smbios1".into(), format!("uuid={}", uuid_like(vmid)));
            conf.insert("meta".into(), format!("creation-qemu=9.2.0,ctime={}", sys::now()));
            zfs.save()?;
            guests::save(&node, vmid, &conf)?;
            Ok(0)
        }
        "config" => {
            let a = cli::parse(rest, &[("current", Kind::Bool), ("snapshot", Kind::Str)], Some(1), &usage("config"))?;
            let vmid = parse_vmid(&a.pos[0], "config")?;
            let Some((_, conf)) = guests::load(vmid) else {
                return Err(die(format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")));
            };
            print!("{}", guests::write(&conf));
            Ok(0)
        }
        "destroy" => {
            let a = cli::parse(rest, &[("purge", Kind::Bool), ("destroy-unreferenced-disks", Kind::Bool), ("skiplock", Kind::Bool)], Some(1), &usage("destroy"))?;
            let vmid = parse_vmid(&a.pos[0], "destroy")?;
            pmxcfs::require_quorum()?;
            let Some((n, conf)) = guests::load(vmid) else {
                return Err(die(format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")));
            };
            if n != node {
                return Err(die(format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")));
            }
            let mut zfs = ZfsState::load()?;
            for (_, volid) in guests::disks(&conf) {
                free_disk(&volid, &mut zfs)?;
            }
            zfs.save()?;
            std::fs::remove_file(guests::conf_path(&node, vmid))?;
            Ok(0)
        }
        other => Err(die(format!("unknown command 'qm {other}'"))),
    }
}

fn uuid_like(vmid: u64) -> String {
    let t = sys::now() as u64;
    format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", t as u32, vmid & 0xffff, vmid & 0xfff, (t >> 8) & 0xfff, t ^ (vmid << 16))
}
