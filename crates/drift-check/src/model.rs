//! What a drift-check run found: per host, drift items in three buckets and the health of the
//! cluster as that host sees it; the totals and the exit code derive from it.

use common::cli::exit;
pub use common::engine::DriftKind as Bucket;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// One difference between a host and the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftItem {
    pub bucket: Bucket,
    /// The phase whose desired state this is (`bootstrap-node` …), or `drift-check` for what
    /// no phase declares (an undeclared backup job).
    pub phase: String,
    /// What it is about: a resource id (`file /etc/hosts`, `storage nas-data`, `authorized key …`).
    pub resource: String,
    /// One line.
    pub summary: String,
    /// Field-level or unified diff, when there is one.
    pub diff: Option<String>,
}

impl DriftItem {
    pub fn new(bucket: Bucket, phase: &str, resource: impl Into<String>, summary: impl Into<String>) -> Self {
        DriftItem { bucket, phase: phase.to_string(), resource: resource.into(), summary: summary.into(), diff: None }
    }
    pub fn with_diff(mut self, diff: Option<String>) -> Self {
        self.diff = diff.filter(|d| !d.trim().is_empty());
        self
    }
}

/// How bad a health check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Works with less redundancy or with failures in the data path (a link down, a failing
    /// replication, an inactive storage).
    Degraded,
    /// Broken (not quorate, votes missing, qnetd not serving).
    Failed,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Degraded => "degraded",
            Level::Failed => "failed",
        }
    }
}

/// One health check of one host (`quorum`, `link1`, `replication 900-0`, `storage nas-data` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub check: String,
    pub level: Level,
    pub message: String,
}

/// Health of one host, as far as it was observed (fields are `None` when not applicable, e.g.
/// quorum on the Pi or on a node that is not clustered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub checks: Vec<HealthCheck>,
    pub quorate: Option<bool>,
    pub votes_total: Option<u32>,
    pub votes_expected: Option<u32>,
    /// corosync link number → up (connected to every peer).
    pub links: BTreeMap<u32, bool>,
    pub replication_failures: u32,
    pub storages_inactive: Vec<String>,
}

impl Health {
    pub fn push(&mut self, check: impl Into<String>, level: Level, message: impl Into<String>) {
        self.checks.push(HealthCheck { check: check.into(), level, message: message.into() });
    }
    /// The worst level of any check (Ok when there are none).
    pub fn level(&self) -> Level {
        self.checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok)
    }
    pub fn degraded(&self) -> bool {
        self.level() != Level::Ok
    }
    /// Names of the checks that are not ok.
    pub fn problems(&self) -> Vec<&HealthCheck> {
        self.checks.iter().filter(|c| c.level != Level::Ok).collect()
    }
}

/// Node or QDevice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole {
    Node,
    QDevice,
}

impl HostRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            HostRole::Node => "node",
            HostRole::QDevice => "qdevice",
        }
    }
}

/// Everything found on one host.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub host: String,
    pub role: HostRole,
    /// The address actually used (link1 when link0 did not answer).
    pub address: String,
    pub reachable: bool,
    /// Why (part of) this host could not be checked: unreachable, observation failed, a fact
    /// that could not be parsed. Any error makes the run exit 1.
    pub errors: Vec<String>,
    pub drift: Vec<DriftItem>,
    pub health: Health,
    /// SSH round trips: the connection (handshake + auth) counts as one, each remote command
    /// as one more. A converged host costs 2.
    pub round_trips: u32,
    pub connect_time: Duration,
    pub elapsed: Duration,
    /// Phases whose checks ran on this host.
    pub phases: Vec<String>,
    /// Probes in the host's observation: (all, distinct snippets actually run).
    pub probes: (usize, usize),
    pub notes: Vec<String>,
}

impl HostResult {
    pub fn new(host: &str, role: HostRole, address: &str) -> Self {
        HostResult {
            host: host.to_string(),
            role,
            address: address.to_string(),
            reachable: false,
            errors: Vec::new(),
            drift: Vec::new(),
            health: Health::default(),
            round_trips: 0,
            connect_time: Duration::ZERO,
            elapsed: Duration::ZERO,
            phases: Vec::new(),
            probes: (0, 0),
            notes: Vec::new(),
        }
    }

    pub fn count(&self, b: Bucket) -> usize {
        self.drift.iter().filter(|d| d.bucket == b).count()
    }

    /// All errors in one line (None when the host was fully checked).
    pub fn error(&self) -> Option<String> {
        if self.errors.is_empty() {
            None
        } else {
            Some(self.errors.join("; "))
        }
    }
}

/// Sums over all hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub hosts: usize,
    pub unreachable: usize,
    /// Hosts with an error (unreachable included).
    pub not_checked: usize,
    pub missing: usize,
    pub different: usize,
    pub unmanaged: usize,
    pub degraded_hosts: usize,
}

impl Totals {
    pub fn drift(&self) -> usize {
        self.missing + self.different + self.unmanaged
    }
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub hosts: Vec<HostResult>,
    /// When the run started (the metrics' timestamp).
    pub started: SystemTime,
    pub elapsed: Duration,
    /// Problems not tied to one host (none today; kept for inventory-level messages).
    pub notes: Vec<String>,
}

impl Report {
    pub fn totals(&self) -> Totals {
        let mut t = Totals { hosts: self.hosts.len(), ..Default::default() };
        for h in &self.hosts {
            t.unreachable += usize::from(!h.reachable);
            t.not_checked += usize::from(!h.errors.is_empty());
            t.missing += h.count(Bucket::Missing);
            t.different += h.count(Bucket::Different);
            t.unmanaged += h.count(Bucket::Unmanaged);
            t.degraded_hosts += usize::from(h.health.degraded());
        }
        t
    }

    /// 1 when anything could not be checked (named in the report); else 2 on drift or
    /// degraded health; else 0.
    pub fn exit_code(&self) -> i32 {
        let t = self.totals();
        if t.not_checked > 0 {
            exit::ERROR
        } else if t.drift() > 0 || t.degraded_hosts > 0 {
            exit::CHANGES
        } else {
            exit::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> HostResult {
        let mut h = HostResult::new(name, HostRole::Node, "10.0.0.1");
        h.reachable = true;
        h
    }

    fn report(hosts: Vec<HostResult>) -> Report {
        Report { hosts, started: SystemTime::UNIX_EPOCH, elapsed: Duration::ZERO, notes: vec![] }
    }

    #[test]
    fn exit_codes_follow_the_precedence_error_then_drift_then_clean() {
        assert_eq!(report(vec![host("a"), host("b")]).exit_code(), 0);

        let mut d = host("a");
        d.drift.push(DriftItem::new(Bucket::Unmanaged, "drift-check", "backup extra", "not declared"));
        assert_eq!(report(vec![d.clone(), host("b")]).exit_code(), 2);

        let mut sick = host("b");
        sick.health.push("link1", Level::Degraded, "down");
        assert_eq!(report(vec![host("a"), sick.clone()]).exit_code(), 2);
        assert_eq!(sick.health.problems().len(), 1);

        let mut gone = HostResult::new("c", HostRole::QDevice, "10.0.0.5");
        gone.errors.push("c (10.0.0.5:22): connection refused".into());
        let r = report(vec![d, sick, gone]);
        assert_eq!(r.exit_code(), 1, "could-not-check wins over drift");
        let t = r.totals();
        assert_eq!((t.hosts, t.unreachable, t.not_checked, t.unmanaged, t.degraded_hosts), (3, 1, 1, 1, 1));
    }

    #[test]
    fn health_level_is_the_worst_check() {
        let mut h = Health::default();
        assert_eq!(h.level(), Level::Ok);
        h.push("quorum", Level::Ok, "");
        h.push("link0", Level::Degraded, "");
        assert_eq!(h.level(), Level::Degraded);
        h.push("qnetd", Level::Failed, "");
        assert_eq!(h.level(), Level::Failed);
        assert!(DriftItem::new(Bucket::Missing, "p", "r", "s").with_diff(Some("  \n".into())).diff.is_none());
    }
}
