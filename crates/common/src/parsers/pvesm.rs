//! `pvesm status` — storages of this node, with usage.
//!
//! Layout: pve-cli.md §4.1 (pve-storage `$print_status`, printf
//! `%-<W>s %10s %10s %15s %15s %15s %8s`). The header's unit suffixes changed in
//! libpve-storage-perl 9.0.14 (`Total (KiB)` vs `Total`), so columns are read by position and
//! the header is only recognised by its first word `Name`. For machine use prefer
//! `pvesh get /nodes/<n>/storage --output-format json` ([`super::pvesh::storage::parse_node_storage`]).

use super::error::{Layout, Result};
use super::text::{number, numbered_lines};
use serde::{Serialize, Serializer};

/// `pvesm status` (pve-cli.md §4.1).
pub const PVESM_STATUS: Layout = Layout { what: "`pvesm status` output", doc: "pve-cli.md §4.1" };

/// One row of `pvesm status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PvesmStatusEntry {
    pub name: String,
    /// Storage plugin type (`dir`, `nfs`, `zfspool`, …).
    pub storage_type: String,
    pub status: StorageState,
    /// Sizes in KiB (bytes / 1024), as printed.
    pub total_kib: u64,
    pub used_kib: u64,
    pub available_kib: u64,
    /// `10.65%` → 10.65; `N/A` (disabled storages) → None.
    pub used_percent: Option<f64>,
}

/// The `Status` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageState {
    Active,
    /// Enabled but not usable (e.g. NFS server unreachable: stderr `storage '<id>' is not online`).
    Inactive,
    Disabled,
    Other(String),
}

impl StorageState {
    pub fn as_str(&self) -> &str {
        match self {
            StorageState::Active => "active",
            StorageState::Inactive => "inactive",
            StorageState::Disabled => "disabled",
            StorageState::Other(s) => s,
        }
    }
}

impl Serialize for StorageState {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Parse `pvesm status`, either header variant. Rows come back in printed order (by id).
pub fn parse_pvesm_status(text: &str) -> Result<Vec<PvesmStatusEntry>> {
    let l = PVESM_STATUS;
    let mut header_seen = false;
    let mut out = Vec::new();
    for (n, line) in numbered_lines(text) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if !header_seen {
            if cols.first() != Some(&"Name") {
                return Err(l.err_at(n, line, "expected the header line `Name Type Status Total … %`"));
            }
            header_seen = true;
            continue;
        }
        let [name, ty, status, total, used, avail, pct] = cols.as_slice() else {
            return Err(l.err_at(
                n,
                line,
                format!("expected 7 columns (Name Type Status Total Used Available %), got {}", cols.len()),
            ));
        };
        let bad = |m: String| l.err_at(n, line, m);
        let used_percent = match *pct {
            "N/A" => None,
            p => Some(
                p.strip_suffix('%')
                    .ok_or_else(|| bad(format!("expected a percentage like `10.65%` or `N/A`, got {p:?}")))
                    .and_then(|v| number::<f64>(v, "a percentage").map_err(bad))?,
            ),
        };
        out.push(PvesmStatusEntry {
            name: name.to_string(),
            storage_type: ty.to_string(),
            status: match *status {
                "active" => StorageState::Active,
                "inactive" => StorageState::Inactive,
                "disabled" => StorageState::Disabled,
                other => StorageState::Other(other.to_string()),
            },
            total_kib: number(total, "a size in KiB").map_err(bad)?,
            used_kib: number(used, "a size in KiB").map_err(bad)?,
            available_kib: number(avail, "a size in KiB").map_err(bad)?,
            used_percent,
        });
    }
    if !header_seen {
        return Err(l.err("empty output (expected at least the header line)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/parsers/", $name))
        };
    }

    #[test]
    fn both_header_variants_parse_the_same() {
        let new = parse_pvesm_status(fixture!("pvesm-status.txt")).unwrap();
        let old = parse_pvesm_status(fixture!("pvesm-status-pre-9.0.14.txt")).unwrap();
        assert_eq!(new, old);
        assert_eq!(new.len(), 5);
        assert_eq!(
            new[0],
            PvesmStatusEntry {
                name: "local".into(),
                storage_type: "dir".into(),
                status: StorageState::Active,
                total_kib: 98497780,
                used_kib: 10485760,
                available_kib: 82964596,
                used_percent: Some(10.65),
            }
        );
        assert_eq!(new[2].name, "nas1");
        assert_eq!(new[2].storage_type, "nfs");
        assert_eq!(new[3].status, StorageState::Inactive);
        assert_eq!(new[3].used_percent, Some(0.0));
        assert_eq!(new[4].status, StorageState::Disabled);
        assert_eq!(new[4].used_percent, None);
        assert_eq!(serde_json::to_value(&new[4]).unwrap()["status"], "disabled");
    }

    #[test]
    fn header_only_and_errors() {
        assert_eq!(parse_pvesm_status("Name Type Status Total Used Available %\n").unwrap(), vec![]);
        assert!(parse_pvesm_status("").is_err());
        let e = parse_pvesm_status("storage 'nas2' is not online\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let text = fixture!("pvesm-status.txt").replace("   25.00%", "   25.00");
        let e = parse_pvesm_status(&text).unwrap_err();
        assert_eq!(e.line, Some(4));
        let text = fixture!("pvesm-status.txt").replace("old               dir", "old");
        let e = parse_pvesm_status(&text).unwrap_err();
        assert!(e.message.contains("7 columns"), "{e}");
    }
}
