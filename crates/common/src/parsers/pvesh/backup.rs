//! `/cluster/backup` (vzdump jobs) and the `prune-backups` retention object.

use super::{from_json_list, from_json_object};
use crate::parsers::error::{Layout, Result};
use crate::parsers::lenient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `pvesh get /cluster/backup[/<id>] --output-format json` (pve-cli.md §6.3).
pub const CLUSTER_BACKUP: Layout =
    Layout { what: "`pvesh get /cluster/backup` JSON", doc: "pve-cli.md §6.3" };

/// `prune-backups` retention. The API returns an object whose values may be strings or numbers
/// (pve-cli.md §6.3); storage.cfg/CLI use the property string `keep-daily=7,keep-last=3`.
/// Both are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PruneBackups {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_all: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u64>,
}

impl PruneBackups {
    /// Parse the property-string form (`keep-daily=7,keep-last=3`), via pve-formats.
    pub fn from_property_string(s: &str) -> std::result::Result<PruneBackups, String> {
        let pairs = pve_formats::property_string::parse(s, None).map_err(|e| e.to_string())?;
        let mut out = PruneBackups::default();
        for (k, v) in pairs {
            out.set(&k, &Value::String(v))?;
        }
        Ok(out)
    }

    /// The property string PVE would print (keys sorted, unset keys omitted).
    pub fn to_property_string(&self) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: Option<u64>| {
            if let Some(v) = v {
                pairs.push((k.to_string(), v.to_string()));
            }
        };
        push("keep-all", self.keep_all.map(u64::from));
        push("keep-daily", self.keep_daily);
        push("keep-hourly", self.keep_hourly);
        push("keep-last", self.keep_last);
        push("keep-monthly", self.keep_monthly);
        push("keep-weekly", self.keep_weekly);
        push("keep-yearly", self.keep_yearly);
        pve_formats::property_string::write_sorted(&pairs)
    }

    fn set(&mut self, key: &str, v: &Value) -> std::result::Result<(), String> {
        let num = || lenient::to_u64(v).ok_or_else(|| format!("`{key}`: expected a count, got {v}"));
        match key {
            "keep-all" => {
                self.keep_all = Some(lenient::to_bool(v).ok_or_else(|| format!("`keep-all`: expected 0/1, got {v}"))?)
            }
            "keep-last" => self.keep_last = Some(num()?),
            "keep-hourly" => self.keep_hourly = Some(num()?),
            "keep-daily" => self.keep_daily = Some(num()?),
            "keep-weekly" => self.keep_weekly = Some(num()?),
            "keep-monthly" => self.keep_monthly = Some(num()?),
            "keep-yearly" => self.keep_yearly = Some(num()?),
            other => return Err(format!("unknown prune-backups key `{other}`")),
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PruneBackups {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => PruneBackups::from_property_string(&s).map_err(D::Error::custom),
            Value::Object(map) => {
                let mut out = PruneBackups::default();
                for (k, v) in &map {
                    out.set(k, v).map_err(D::Error::custom)?;
                }
                Ok(out)
            }
            other => Err(D::Error::custom(format!(
                "prune-backups: expected an object or `keep-x=N,…` string, got {other}"
            ))),
        }
    }
}

/// One vzdump job (`type: vzdump` entry of jobs.cfg) as `/cluster/backup` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupJob {
    pub id: String,
    #[serde(default)]
    pub schedule: Option<String>,
    /// Defaults to 1 and is always written by PVE (pve-cli.md §6.1).
    #[serde(default = "yes", deserialize_with = "lenient::bool")]
    pub enabled: bool,
    #[serde(default)]
    pub storage: Option<String>,
    /// `snapshot`, `suspend`, `stop`.
    #[serde(default)]
    pub mode: Option<String>,
    /// `0`, `1`, `gzip`, `lzo`, `zstd` (number or string in JSON; kept as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub compress: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub all: bool,
    /// Comma list of guest ids, verbatim; see [`BackupJob::vmids`].
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub vmid: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub exclude: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    /// Decoded by the API.
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(rename = "notification-mode", default)]
    pub notification_mode: Option<String>,
    #[serde(default)]
    pub mailnotification: Option<String>,
    #[serde(default)]
    pub mailto: Option<String>,
    #[serde(rename = "prune-backups", default)]
    pub prune_backups: Option<PruneBackups>,
    #[serde(rename = "repeat-missed", default, deserialize_with = "lenient::opt_bool")]
    pub repeat_missed: Option<bool>,
    /// Epoch of the next run (list call only).
    #[serde(rename = "next-run", default, deserialize_with = "lenient::opt_i64")]
    pub next_run: Option<i64>,
    /// `vzdump`.
    #[serde(rename = "type", default)]
    pub job_type: Option<String>,
    /// Every other key (`fleecing`, `performance`, `notes-template`, …), verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

impl BackupJob {
    /// `vmid` as numbers (`None` when absent or not a list of ids).
    pub fn vmids(&self) -> Option<Vec<u32>> {
        self.vmid.as_deref()?.split(',').map(|v| v.trim().parse().ok()).collect()
    }
}

/// Parse `/cluster/backup`; sorted by id.
pub fn parse_cluster_backup(json: &str) -> Result<Vec<BackupJob>> {
    let mut v: Vec<BackupJob> = from_json_list(CLUSTER_BACKUP, json)?;
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(v)
}

/// Parse `/cluster/backup/<id>` (a single object; no `next-run`).
pub fn parse_cluster_backup_entry(json: &str) -> Result<BackupJob> {
    from_json_object(CLUSTER_BACKUP, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/parsers/", $name))
        };
    }

    #[test]
    fn nightly_job_with_string_retention() {
        let jobs = parse_cluster_backup(fixture!("pvesh-cluster-backup.json")).unwrap();
        assert_eq!(jobs.len(), 1);
        let j = &jobs[0];
        assert_eq!(j.id, "backup-nightly");
        assert_eq!(j.schedule.as_deref(), Some("21:00"));
        assert!(j.enabled && j.all);
        assert_eq!(j.storage.as_deref(), Some("nas1"));
        assert_eq!(j.mode.as_deref(), Some("snapshot"));
        assert_eq!(j.compress.as_deref(), Some("zstd"));
        assert_eq!(j.comment.as_deref(), Some("Nightly"));
        assert_eq!(j.notification_mode.as_deref(), Some("notification-system"));
        assert_eq!(j.next_run, Some(1756753200));
        assert_eq!(j.job_type.as_deref(), Some("vzdump"));
        let p = j.prune_backups.clone().unwrap();
        assert_eq!((p.keep_daily, p.keep_last, p.keep_weekly), (Some(7), Some(3), None));
        assert_eq!(p.to_property_string(), "keep-daily=7,keep-last=3");
        assert!(j.extra.is_empty());
        assert_eq!(j.vmids(), None);
    }

    #[test]
    fn numbers_instead_of_strings_and_enabled_default() {
        let j = &parse_cluster_backup(fixture!("pvesh-cluster-backup-numbers.json")).unwrap()[0];
        assert!(j.enabled, "enabled defaults to 1");
        assert!(!j.all);
        assert_eq!(j.compress.as_deref(), Some("0"));
        assert_eq!(j.vmids(), Some(vec![100, 101]));
        let p = j.prune_backups.clone().unwrap();
        assert_eq!((p.keep_all, p.keep_weekly, p.keep_monthly), (Some(false), Some(4), Some(2)));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, serde_json::json!({"keep-all": false, "keep-weekly": 4, "keep-monthly": 2}));
    }

    #[test]
    fn single_entry_and_extra_keys() {
        let j = parse_cluster_backup_entry(
            r#"{"id":"b","enabled":"0","schedule":"sat 02:00","fleecing":{"enabled":1},"prune-backups":"keep-last=2"}"#,
        )
        .unwrap();
        assert!(!j.enabled);
        assert_eq!(j.prune_backups.and_then(|p| p.keep_last), Some(2));
        assert!(j.extra.contains_key("fleecing"));
    }

    #[test]
    fn bad_retention_is_named() {
        let e = parse_cluster_backup(r#"[{"id":"b","prune-backups":{"keep-lots":"1"}}]"#).unwrap_err();
        assert!(e.message.contains("entry 1 (id \"b\")") && e.message.contains("keep-lots"), "{e}");
        let e = parse_cluster_backup(r#"[{"id":"b","prune-backups":{"keep-last":"x"}}]"#).unwrap_err();
        assert!(e.message.contains("keep-last"), "{e}");
        assert!(PruneBackups::from_property_string("keep-last").is_err());
    }
}
