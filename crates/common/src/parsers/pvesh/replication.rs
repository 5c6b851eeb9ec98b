//! `/cluster/replication` (job configuration) and `/nodes/<node>/replication` (job status).

use super::from_json_list;
use crate::parsers::error::{Layout, Result};
use crate::parsers::lenient;
use crate::parsers::pvesr::JobId;
use serde::{Deserialize, Serialize};

/// `pvesh get /cluster/replication --output-format json` (pve-cli.md §5.2, §5.3).
pub const CLUSTER_REPLICATION: Layout =
    Layout { what: "`pvesh get /cluster/replication` JSON", doc: "pve-cli.md §5.2" };
/// `pvesh get /nodes/<node>/replication --output-format json` (pve-cli.md §5.2).
pub const NODE_REPLICATION: Layout =
    Layout { what: "`pvesh get /nodes/<node>/replication` JSON", doc: "pve-cli.md §5.2" };

/// PVE's default schedule when none is set (pve-cli.md §5.3).
pub const DEFAULT_SCHEDULE: &str = "*/15";

/// A replication job's configuration (a `local: <id>` section of replication.cfg).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationJob {
    /// `<vmid>-<jobnum>`.
    pub id: String,
    /// Target node name.
    pub target: String,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub guest: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub jobnum: Option<u32>,
    /// Absent → [`DEFAULT_SCHEDULE`].
    #[serde(default)]
    pub schedule: Option<String>,
    /// MB/s; absent → unlimited.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub rate: Option<f64>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub disable: bool,
    /// Filled in with the guest's node on the first status run.
    #[serde(default)]
    pub source: Option<String>,
    /// `local` / `full` while a removal is pending.
    #[serde(default)]
    pub remove_job: Option<String>,
    /// `local`.
    #[serde(rename = "type", default)]
    pub job_type: Option<String>,
}

impl ReplicationJob {
    pub fn effective_schedule(&self) -> &str {
        self.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE)
    }
    pub fn enabled(&self) -> bool {
        !self.disable
    }
    /// The id split into guest and job number.
    pub fn job_id(&self) -> Option<JobId> {
        JobId::parse(&self.id)
    }
}

/// A job's configuration plus its state on this node (`/nodes/<node>/replication`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    #[serde(flatten)]
    pub job: ReplicationJob,
    /// Epoch seconds; 0 or absent = never.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub last_sync: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub last_try: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub next_sync: Option<i64>,
    /// Seconds of the last run.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub duration: Option<f64>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub fail_count: u32,
    /// The last error, if the last run failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Set while a run is in progress.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub pid: Option<u64>,
}

impl ReplicationStatus {
    /// Has synced at least once.
    pub fn has_synced(&self) -> bool {
        self.last_sync.is_some_and(|t| t > 0)
    }
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.fail_count == 0
    }
}

/// Parse `/cluster/replication`; sorted by (guest, job number).
pub fn parse_cluster_replication(json: &str) -> Result<Vec<ReplicationJob>> {
    let mut v: Vec<ReplicationJob> = from_json_list(CLUSTER_REPLICATION, json)?;
    v.sort_by(|a, b| (a.job_id(), &a.id).cmp(&(b.job_id(), &b.id)));
    Ok(v)
}

/// Parse `/nodes/<node>/replication`; sorted by (guest, job number).
pub fn parse_node_replication(json: &str) -> Result<Vec<ReplicationStatus>> {
    let mut v: Vec<ReplicationStatus> = from_json_list(NODE_REPLICATION, json)?;
    v.sort_by(|a, b| (a.job.job_id(), &a.job.id).cmp(&(b.job.job_id(), &b.job.id)));
    Ok(v)
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
    fn config() {
        let jobs = parse_cluster_replication(fixture!("pvesh-cluster-replication.json")).unwrap();
        assert_eq!(jobs.len(), 2);
        let a = &jobs[0];
        assert_eq!((a.id.as_str(), a.target.as_str(), a.guest, a.jobnum), ("100-0", "pve2", Some(100), Some(0)));
        assert_eq!(a.effective_schedule(), "*/15");
        assert_eq!(a.rate, None);
        assert!(a.enabled());
        assert_eq!(a.source.as_deref(), Some("pve1"));
        assert_eq!(a.job_id(), Some(JobId { guest: 100, job_num: 0 }));
        let b = &jobs[1];
        assert_eq!((b.effective_schedule(), b.rate, b.enabled()), ("*/5", Some(10.0), false));
        assert_eq!(b.comment.as_deref(), Some("fast"));
    }

    #[test]
    fn status() {
        let s = parse_node_replication(fixture!("pvesh-node-replication.json")).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].has_synced() && s[0].is_ok());
        assert_eq!((s[0].duration, s[0].next_sync), (Some(2.873421), Some(1756728900)));
        assert_eq!(s[0].job.target, "pve2");
        assert!(!s[1].has_synced() && !s[1].is_ok());
        assert_eq!(s[1].fail_count, 3);
        assert!(!s[1].job.enabled());
        assert!(s[1].error.as_deref().unwrap().contains("zfs snapshot"));
    }

    #[test]
    fn sorted_by_guest_numerically() {
        let jobs = parse_cluster_replication(r#"[{"id":"1000-0","target":"b"},{"id":"200-1","target":"a"},{"id":"200-0","target":"a"}]"#).unwrap();
        assert_eq!(jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["200-0", "200-1", "1000-0"]);
        let e = parse_cluster_replication(r#"[{"id":"100-0"}]"#).unwrap_err();
        assert!(e.message.contains("target"), "{e}");
    }
}
