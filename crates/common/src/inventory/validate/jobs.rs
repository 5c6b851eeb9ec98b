//! Rules for `[[storage.nfs]]`, `[[zfs]]`, `[[replication]]`, `[[backup]]` and
//! `[monitoring]`: Proxmox id formats and value domains (pve-cli.md §4–§6), and the
//! references between them (a job's storage, a replication target).

use super::{Ctx, Seen};
use crate::inventory::calendar::check_calendar_event;
use crate::inventory::zfs_props::{check_dataset, check_zfs_property};
use crate::inventory::{names, Filesystem, Retention};

/// Content types an NFS storage accepts (pve-cli.md §4.2).
const NFS_CONTENT: &[&str] = &["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"];
/// Storage ids a fresh Proxmox install defines itself.
const BUILTIN_STORAGES: &[&str] = &["local", "local-zfs", "local-lvm", "local-btrfs"];
/// Backup job values (pve-cli.md §6.1).
const MODES: &[&str] = &["snapshot", "suspend", "stop"];
const COMPRESS: &[&str] = &["0", "1", "gzip", "lzo", "zstd"];
const NOTIFICATION_MODES: &[&str] = &["auto", "legacy-sendmail", "notification-system"];
/// Largest guest id / job number Proxmox accepts (`[1-9][0-9]{2,8}-\d{1,9}`, pve-cli.md §5.1).
const MAX_ID: u32 = 999_999_999;

pub(super) fn check(cx: &mut Ctx) {
    nfs(cx);
    zfs(cx);
    replication(cx);
    backup(cx);
    monitoring(cx);
}

fn nfs(cx: &mut Ctx) {
    let inv = cx.inv;
    let mut ids = Seen::new();
    for (i, s) in inv.storage.nfs.iter().enumerate() {
        let p = format!("storage.nfs[{i}]");
        if let Err(e) = names::check_storage_id(&s.id) {
            cx.err(&format!("{p}.id"), e);
        } else if BUILTIN_STORAGES.contains(&s.id.as_str()) {
            cx.err(&format!("{p}.id"), format!("storage id `{}` is Proxmox's own node-local storage; choose another id, e.g. nas-{}", s.id, i + 1));
        } else if let Some(first) = ids.first_path(s.id.to_ascii_lowercase(), &format!("{p}.id")) {
            let line = cx.line(&first);
            cx.err(&format!("{p}.id"), format!("storage id `{}` is already used by {first} (line {line}); give each storage its own id", s.id));
        }
        if let Err(e) = names::check_host_or_ip(&s.server) {
            cx.err(&format!("{p}.server"), format!("NFS server `{}` {e}; write the NAS's IP address or DNS name", s.server));
        }
        if !s.export.starts_with('/') || s.export.contains(char::is_whitespace) {
            cx.err(&format!("{p}.export"), format!("export `{}` must be the absolute path the NAS exports, e.g. /volume1/backups/proxmox", s.export));
        }
        if let Some(path) = &s.path {
            if !path.starts_with('/') || path.contains(char::is_whitespace) || path == "/" {
                cx.err(&format!("{p}.path"), format!("mount path `{path}` must be an absolute directory (default /mnt/pve/{})", s.id));
            }
        }
        if s.content.is_empty() {
            cx.err(&format!("{p}.content"), format!("content is empty; list what the storage holds, from {}", NFS_CONTENT.join(", ")));
        }
        let mut seen = Seen::new();
        for (j, c) in s.content.iter().enumerate() {
            let cp = format!("{p}.content[{j}]");
            if !NFS_CONTENT.contains(&c.as_str()) {
                let hint = match c.as_str() {
                    "vzdump" | "backups" => " (backups are `backup`)",
                    "templates" | "template" => " (container templates are `vztmpl`)",
                    "disk" | "disks" | "vm" => " (VM disks are `images`, container volumes `rootdir`)",
                    _ => "",
                };
                cx.err(&cp, format!("content type `{c}` is not allowed on NFS storage; use {}{hint}", NFS_CONTENT.join(", ")));
            } else if let Some(first) = seen.first_path(c.clone(), &cp) {
                cx.err(&cp, format!("content type `{c}` is listed twice (also {first}); remove one"));
            }
        }
        if let Some(o) = &s.options {
            if o.is_empty() || o.contains(char::is_whitespace) || o.split(',').any(str::is_empty) {
                cx.err(&format!("{p}.options"), format!("mount options `{o}` must be a comma-separated list without spaces, e.g. vers=4.2,soft"));
            }
        }
        for (j, n) in s.nodes.iter().enumerate() {
            if inv.node(n).is_none() {
                cx.err(&format!("{p}.nodes[{j}]"), format!("`{n}` is not a cluster node; use one of {}", node_list(cx)));
            }
        }
        if let Some(r) = &s.prune_backups {
            retention(cx, &format!("{p}.prune_backups"), r);
        }
    }
}

fn zfs(cx: &mut Ctx) {
    let inv = cx.inv;
    let any_zfs = inv.nodes.iter().any(|n| n.filesystem == Filesystem::Zfs);
    let mut seen = Seen::new();
    for (i, z) in inv.zfs.iter().enumerate() {
        let p = format!("zfs[{i}]");
        if let Err(e) = check_dataset(&z.dataset) {
            cx.err(&format!("{p}.dataset"), e);
        } else if let Some(first) = seen.first_path(z.dataset.clone(), &format!("{p}.dataset")) {
            let line = cx.line(&first);
            cx.err(&format!("{p}.dataset"), format!("dataset `{}` already has a [[zfs]] entry (line {line}); merge the properties into one", z.dataset));
        } else if !any_zfs && (z.dataset == "rpool" || z.dataset.starts_with("rpool/")) {
            cx.err(
                &format!("{p}.dataset"),
                format!("`{}` is on rpool, which only exists on nodes installed with filesystem = \"zfs\", and no node is; remove this [[zfs]] entry or install with ZFS", z.dataset),
            );
        }
        if z.properties.is_empty() {
            cx.err(&format!("{p}.properties"), "properties is empty; set what should differ from the defaults, e.g. { compression = \"lz4\", atime = \"off\" }");
        }
        for (name, value) in &z.properties {
            if let Err(e) = check_zfs_property(name, value) {
                cx.err(&format!("{p}.properties.{name}"), e);
            }
        }
    }
}

fn replication(cx: &mut Ctx) {
    let inv = cx.inv;
    let master = inv.nodes.iter().find(|n| n.role == crate::inventory::Role::Master).map(|n| n.name.clone());
    let mut ids = Seen::new();
    let mut pairs = Seen::new();
    for (i, r) in inv.replication.iter().enumerate() {
        let p = format!("replication[{i}]");
        let id = format!("{}-{}", r.guest, r.job);
        if !(100..=MAX_ID).contains(&r.guest) {
            cx.err(&format!("{p}.guest"), format!("guest {} is not a Proxmox guest id; use the VM/CT id (100..={MAX_ID})", r.guest));
        }
        if r.job > MAX_ID {
            cx.err(&format!("{p}.job"), format!("job {} is too large; use a job number 0..={MAX_ID}", r.job));
        }
        if let Some(first) = ids.first_path((r.guest, r.job), &p) {
            let line = cx.line(&first);
            cx.err(&format!("{p}.guest"), format!("replication job {id} is defined twice (first on line {line}); give the second one another `job` number or remove it"));
        }
        let target_known = inv.node(&r.target).is_some();
        if !target_known {
            cx.err(&format!("{p}.target"), format!("replication target `{}` is not a cluster node; use one of {}", r.target, node_list(cx)));
        }
        let source = match &r.source {
            Some(s) if inv.node(s).is_none() => {
                cx.err(&format!("{p}.source"), format!("replication source `{s}` is not a cluster node; use one of {}", node_list(cx)));
                None
            }
            Some(s) => Some(s.clone()),
            None => master.clone(),
        };
        if let Some(src) = &source {
            if *src == r.target {
                let why = if r.source.is_none() { " (the source defaults to the master)" } else { "" };
                cx.err(
                    &format!("{p}.target"),
                    format!("replication target `{}` is the guest's own node{why}; replicate to another node — Proxmox refuses identical source and target", r.target),
                );
            }
        }
        if target_known {
            if let Some(first) = pairs.first_path((r.guest, r.target.clone()), &p) {
                let line = cx.line(&first);
                cx.err(
                    &format!("{p}.target"),
                    format!("guest {} already replicates to {} (line {line}); Proxmox allows one job per guest and target — merge them or remove one", r.guest, r.target),
                );
            }
        }
        if let Some(rate) = r.rate {
            if !(rate.is_finite() && rate >= 1.0) {
                cx.err(&format!("{p}.rate"), format!("rate {rate} must be at least 1 (MB/s); remove it for no limit"));
            }
        }
        if let Err(e) = check_calendar_event(&r.schedule) {
            cx.err(&format!("{p}.schedule"), e);
        }
    }
}

fn backup(cx: &mut Ctx) {
    let inv = cx.inv;
    let mut ids = Seen::new();
    for (i, b) in inv.backup.iter().enumerate() {
        let p = format!("backup[{i}]");
        if let Err(e) = names::check_config_id(&b.id) {
            cx.err(&format!("{p}.id"), e);
        } else if let Some(first) = ids.first_path(b.id.to_ascii_lowercase(), &format!("{p}.id")) {
            let line = cx.line(&first);
            cx.err(&format!("{p}.id"), format!("backup job id `{}` is already used (line {line}); give this job its own id", b.id));
        }
        if b.storage != "local" {
            match inv.storage.nfs.iter().find(|s| s.id == b.storage) {
                None => {
                    let declared: Vec<&str> = inv.storage.nfs.iter().map(|s| s.id.as_str()).collect();
                    let list = if declared.is_empty() { "none".to_string() } else { declared.join(", ") };
                    cx.err(
                        &format!("{p}.storage"),
                        format!("backup storage `{}` is not declared; use a [[storage.nfs]] id (declared: {list}) or `local`", b.storage),
                    );
                }
                Some(s) if !s.content.iter().any(|c| c == "backup") => {
                    let j = inv.storage.nfs.iter().position(|x| x.id == s.id).unwrap_or(0);
                    let line = cx.line(&format!("storage.nfs[{j}].content"));
                    cx.err(
                        &format!("{p}.storage"),
                        format!("storage `{}` does not hold backups; add \"backup\" to its content (line {line}) or choose another storage", b.storage),
                    );
                }
                Some(_) => {}
            }
        }
        if let Err(e) = check_calendar_event(&b.schedule) {
            cx.err(&format!("{p}.schedule"), e);
        }
        match (b.all, b.vmids.is_empty()) {
            (true, false) => cx.err(
                &format!("{p}.vmids"),
                "a backup job selects either all guests (all = true, optionally with exclude) or a vmids list, not both; remove one",
            ),
            (false, true) => cx.err(&format!("{p}.all"), "the backup job selects no guests; set all = true or list vmids = [100, …]"),
            _ => {}
        }
        if !b.all && !b.exclude.is_empty() {
            cx.err(&format!("{p}.exclude"), "exclude only applies with all = true; list the wanted guests in vmids instead");
        }
        for (key, list) in [("vmids", &b.vmids), ("exclude", &b.exclude)] {
            let mut seen = Seen::new();
            for (j, v) in list.iter().enumerate() {
                let vp = format!("{p}.{key}[{j}]");
                if !(100..=MAX_ID).contains(v) {
                    cx.err(&vp, format!("{v} is not a Proxmox guest id; use VM/CT ids (100..={MAX_ID})"));
                } else if seen.first_path(*v, &vp).is_some() {
                    cx.err(&vp, format!("guest {v} is listed twice in {key}; remove one"));
                }
            }
        }
        one_of(cx, &format!("{p}.mode"), "mode", &b.mode, MODES);
        one_of(cx, &format!("{p}.compress"), "compress", &b.compress, COMPRESS);
        one_of(cx, &format!("{p}.notification_mode"), "notification_mode", &b.notification_mode, NOTIFICATION_MODES);
        retention(cx, &format!("{p}.retention"), &b.retention);
    }
}

fn one_of(cx: &mut Ctx, path: &str, key: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        cx.err(path, format!("{key} `{value}` is not valid; use one of {}", allowed.join(", ")));
    }
}

/// `keep-*` values are at least 1 in Proxmox's prune-backups schema.
fn retention(cx: &mut Ctx, path: &str, r: &Retention) {
    for (key, v) in [
        ("keep_last", r.keep_last),
        ("keep_hourly", r.keep_hourly),
        ("keep_daily", r.keep_daily),
        ("keep_weekly", r.keep_weekly),
        ("keep_monthly", r.keep_monthly),
        ("keep_yearly", r.keep_yearly),
    ] {
        if v == Some(0) {
            cx.err(&format!("{path}.{key}"), format!("{key} = 0 is not allowed (minimum 1); remove the key to not keep backups by that rule"));
        }
    }
}

fn monitoring(cx: &mut Ctx) {
    let inv = cx.inv;
    let Some(m) = &inv.monitoring.memory else { return };
    if !(1..=59).contains(&m.interval_minutes) {
        cx.err(
            "monitoring.memory.interval_minutes",
            format!("interval_minutes = {} must be 1..=59 (a cron step in minutes; 5 checks every five minutes)", m.interval_minutes),
        );
    }
    if !(1..=100).contains(&m.threshold_percent) {
        cx.err(
            "monitoring.memory.threshold_percent",
            format!("threshold_percent = {} must be 1..=100 (warn when used memory exceeds this percentage, e.g. 90)", m.threshold_percent),
        );
    }
    for (i, pkg) in m.packages.iter().enumerate() {
        if let Err(e) = names::check_package_name(pkg) {
            cx.err(&format!("monitoring.memory.packages[{i}]"), e);
        }
    }
}

fn node_list(cx: &Ctx) -> String {
    let mut names: Vec<&str> = Vec::new();
    for n in &cx.inv.nodes {
        if !names.contains(&n.name.as_str()) {
            names.push(&n.name);
        }
    }
    if names.is_empty() {
        "(no nodes declared)".into()
    } else {
        names.join(", ")
    }
}
