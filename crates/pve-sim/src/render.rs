//! Pure text renderers of the Perl CLIs' custom printers. Kept free of I/O so the conformance
//! tests (tests/conformance.rs and the unit tests below) can compare them with the layouts in
//! pve-cli.md without a lab.

use pve_formats::corosync::CorosyncConf;

use crate::sys;

/// `pvecm status` header printed before exec'ing `corosync-quorumtool -siH`
/// (layout: pve-cli.md §2.5, `printf "%-17s %s\n"`, defaults `UNKOWN?` [sic], -1, knet, off),
/// followed by the empty line that separates it from the quorumtool blocks.
pub fn pvecm_status_header(conf: &CorosyncConf) -> String {
    let totem = conf.main.section("totem");
    let get = |k: &str| totem.and_then(|t| t.value(k));
    let mut s = String::from("Cluster information\n-------------------\n");
    s.push_str(&format!("{:<17} {}\n", "Name:", get("cluster_name").unwrap_or("UNKOWN?")));
    s.push_str(&format!("{:<17} {}\n", "Config Version:", get("config_version").unwrap_or("-1")));
    s.push_str(&format!("{:<17} {}\n", "Transport:", get("transport").unwrap_or("knet")));
    s.push_str(&format!("{:<17} {}\n", "Secure auth:", get("secauth").unwrap_or("off")));
    s.push('\n');
    s
}

/// One row of `pvesm status` (sizes in bytes).
#[derive(Debug, Clone)]
pub struct StorageStatus {
    pub storage: String,
    pub storage_type: String,
    pub enabled: bool,
    pub active: bool,
    pub total: u64,
    pub used: u64,
    pub avail: u64,
}

/// `pvesm status` (pve-cli.md §4.1: `%-<W>s %10s %10s %15s %15s %15s %8s`, W = longest id + 1,
/// rows sorted by id, KiB units, `% 7.2f%%` or `N/A` for disabled storages; header units since
/// libpve-storage-perl 9.0.14).
pub fn pvesm_status(rows: &[StorageStatus]) -> String {
    let w = rows.iter().map(|r| r.storage.len()).max().unwrap_or(0) + 1;
    let mut s = format!(
        "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}\n",
        "Name", "Type", "Status", "Total (KiB)", "Used (KiB)", "Available (KiB)", "%"
    );
    let mut rows: Vec<&StorageStatus> = rows.iter().collect();
    rows.sort_by(|a, b| a.storage.cmp(&b.storage));
    for r in rows {
        let (status, pct) = if !r.enabled {
            ("disabled".to_string(), format!("{:>8}", "N/A"))
        } else {
            let per = if r.total > 0 { r.used as f64 * 100.0 / r.total as f64 } else { 0.0 };
            (if r.active { "active" } else { "inactive" }.to_string(), format!("{per:>7.2}%"))
        };
        s.push_str(&format!(
            "{:<w$} {:>10} {:>10} {:>15} {:>15} {:>15} {}\n",
            r.storage,
            r.storage_type,
            status,
            r.total / 1024,
            r.used / 1024,
            r.avail / 1024,
            pct
        ));
    }
    s
}

/// One `pvesr list` row.
#[derive(Debug, Clone)]
pub struct ReplListRow {
    pub id: String,
    pub guest: u64,
    pub target: String,
    pub schedule: Option<String>,
    pub rate: Option<String>,
    pub enabled: bool,
}

/// `pvesr list` (pve-cli.md §5.2: `%-20s %-20s %10s %5s %8s`, sorted by guest id, default
/// schedule `*/15`, rate `-`, `yes`/`no`).
pub fn pvesr_list(rows: &[ReplListRow]) -> String {
    let mut s = format!("{:<20} {:<20} {:>10} {:>5} {:>8}\n", "JobID", "Target", "Schedule", "Rate", "Enabled");
    let mut rows: Vec<&ReplListRow> = rows.iter().collect();
    rows.sort_by(|a, b| (a.guest, &a.id).cmp(&(b.guest, &b.id)));
    for r in rows {
        s.push_str(&format!(
            "{:<20} {:<20} {:>10} {:>5} {:>8}\n",
            r.id,
            format!("local/{}", r.target),
            r.schedule.as_deref().unwrap_or("*/15"),
            r.rate.as_deref().unwrap_or("-"),
            if r.enabled { "yes" } else { "no" }
        ));
    }
    s
}

/// One `pvesr status` row (times are epoch seconds; 0/None = never).
#[derive(Debug, Clone)]
pub struct ReplStatusRow {
    pub id: String,
    pub guest: u64,
    pub enabled: bool,
    pub target: String,
    pub last_sync: Option<i64>,
    pub next_sync: Option<i64>,
    pub duration: Option<f64>,
    pub fail_count: u32,
    pub syncing: bool,
    pub error: Option<String>,
}

/// `pvesr status` (pve-cli.md §5.2: `%-10s %-10s %-20s %20s %20s %10s %10s %s`).
pub fn pvesr_status(rows: &[ReplStatusRow], now: i64) -> String {
    let mut s = format!(
        "{:<10} {:<10} {:<20} {:>20} {:>20} {:>10} {:>10} {}\n",
        "JobID", "Enabled", "Target", "LastSync", "NextSync", "Duration", "FailCount", "State"
    );
    let mut rows: Vec<&ReplStatusRow> = rows.iter().collect();
    rows.sort_by(|a, b| (a.guest, &a.id).cmp(&(b.guest, &b.id)));
    for r in rows {
        let last = match r.last_sync {
            Some(t) if t > 0 => sys::fmt_pvesr_time(t),
            _ => "-".to_string(),
        };
        let next = match r.next_sync {
            Some(t) if t > now => sys::fmt_pvesr_time(t),
            _ => "pending".to_string(),
        };
        let dur = match r.duration {
            Some(d) if d > 0.0 => format!("{d:.6}"),
            _ => "-".to_string(),
        };
        let state = if r.syncing {
            "SYNCING".to_string()
        } else {
            r.error.clone().unwrap_or_else(|| "OK".to_string())
        };
        s.push_str(&format!(
            "{:<10} {:<10} {:<20} {:>20} {:>20} {:>10} {:>10} {}\n",
            r.id,
            if r.enabled { "Yes" } else { "No" },
            format!("local/{}", r.target),
            last,
            next,
            dur,
            r.fail_count,
            state
        ));
    }
    s
}

/// One `qm list` row.
#[derive(Debug, Clone)]
pub struct QmListRow {
    pub vmid: u64,
    pub name: String,
    pub status: String,
    pub mem_mb: u64,
    pub bootdisk_gb: f64,
    pub pid: u64,
}

/// `qm list` (qemu-server PVE/CLI/qm.pm: `%10s %-20s %-10s %-10s %12s %-10s`).
pub fn qm_list(rows: &[QmListRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "{:>10} {:<20} {:<10} {:<10} {:>12} {:<10}\n",
        "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"
    );
    for r in rows {
        s.push_str(&format!(
            "{:>10} {:<20} {:<10} {:<10} {:>12.2} {:<10}\n",
            r.vmid, r.name, r.status, r.mem_mb, r.bootdisk_gb, r.pid
        ));
    }
    s
}

/// ZFS's human-readable numbers (`zfs_nicenum`): 1024-based, at most 5 characters,
/// exact multiples without decimals (`96K`, `1.20G`, `27.4G`, `0B`→`0`).
pub fn zfs_nicenum(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut index = 0;
    let mut v = n;
    while v >= 1024 && index < 6 {
        v /= 1024;
        index += 1;
    }
    let unit = UNITS[index];
    let divisor = 1024f64.powi(index as i32);
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; MSRV is 1.80
    let exact = n % 1024u64.pow(index as u32) == 0;
    if index == 0 || exact {
        return format!("{}{}", n / 1024u64.pow(index as u32), unit);
    }
    for prec in (0..=2).rev() {
        let s = format!("{:.*}{}", prec, n as f64 / divisor, unit);
        if s.len() <= 5 {
            return s;
        }
    }
    format!("{:.0}{}", n as f64 / divisor, unit)
}

/// Columns separated by two spaces, each padded to its widest cell (zfs/zpool list style).
/// `right` marks right-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let last = i + 1 == n;
            if right.get(i).copied().unwrap_or(false) {
                l.push_str(&format!("{:>w$}", c, w = widths[i]));
            } else if last {
                l.push_str(c);
            } else {
                l.push_str(&format!("{:<w$}", c, w = widths[i]));
            }
            if !last {
                l.push_str("  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicenum_matches_zfs() {
        assert_eq!(zfs_nicenum(0), "0");
        assert_eq!(zfs_nicenum(512), "512");
        assert_eq!(zfs_nicenum(96 * 1024), "96K");
        assert_eq!(zfs_nicenum(1_288_490_188), "1.20G");
        assert_eq!(zfs_nicenum(29_420_863_488), "27.4G");
        assert_eq!(zfs_nicenum(32 * 1024 * 1024 * 1024), "32G");
        assert_eq!(zfs_nicenum(150 * 1024 * 1024 * 1024 + 1), "150G");
    }
}
