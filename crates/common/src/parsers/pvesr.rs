//! `pvesr list` (configured replication jobs) and `pvesr status` (jobs whose guest lives on
//! this node, with their last/next sync and state).
//!
//! Layouts: pve-cli.md §5.2 (pve-manager `PVE/CLI/pvesr.pm`, printf `%-20s %-20s %10s %5s %8s`
//! and `%-10s %-10s %-20s %20s %20s %10s %10s %s`). Rows are read by tokens; the free-text
//! parts (a calendar-event schedule like `mon..fri 21:00`; the `State` error text) are taken
//! verbatim from the line. For machine use prefer `pvesh get /cluster/replication` /
//! `/nodes/<n>/replication` ([`super::pvesh`]).

use super::error::{Layout, Result};
use super::text::{number, numbered_lines, rest_from, tokens};
use serde::{Serialize, Serializer};

/// `pvesr list` (pve-cli.md §5.2).
pub const PVESR_LIST: Layout = Layout { what: "`pvesr list` output", doc: "pve-cli.md §5.2" };
/// `pvesr status` (pve-cli.md §5.2).
pub const PVESR_STATUS: Layout = Layout { what: "`pvesr status` output", doc: "pve-cli.md §5.2" };

/// A replication job id `<vmid>-<jobnum>` (e.g. `100-0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct JobId {
    pub guest: u32,
    pub job_num: u32,
}

impl JobId {
    pub fn parse(s: &str) -> Option<JobId> {
        let (g, j) = s.split_once('-')?;
        if g.is_empty() || j.is_empty() || !g.bytes().chain(j.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(JobId { guest: g.parse().ok()?, job_num: j.parse().ok()? })
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.guest, self.job_num)
    }
}

/// One row of `pvesr list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PvesrListEntry {
    pub id: String,
    pub job: JobId,
    /// `local/<node>` as printed.
    pub target: String,
    /// The node part of `target`.
    pub target_node: String,
    /// Calendar event (`*/15` is PVE's default and printed when unset).
    pub schedule: String,
    /// MB/s; `-` → None (unlimited).
    pub rate: Option<f64>,
    pub enabled: bool,
}

/// Parse `pvesr list`.
pub fn parse_pvesr_list(text: &str) -> Result<Vec<PvesrListEntry>> {
    let l = PVESR_LIST;
    let mut out = Vec::new();
    let mut header = false;
    for (n, line) in numbered_lines(text) {
        let toks = tokens(line);
        if toks.is_empty() {
            continue;
        }
        if !header {
            if toks.first().map(|t| t.1) != Some("JobID") {
                return Err(l.err_at(n, line, "expected the header `JobID Target Schedule Rate Enabled`"));
            }
            header = true;
            continue;
        }
        if toks.len() < 5 {
            return Err(l.err_at(n, line, "expected 5 columns: JobID Target Schedule Rate Enabled"));
        }
        let bad = |m: String| l.err_at(n, line, m);
        let (id, target) = (tok(&toks, 0), tok(&toks, 1));
        let (Some(&rate_tok), Some(&enabled_tok)) = (toks.get(toks.len().saturating_sub(2)), toks.last())
        else {
            return Err(bad("expected Rate and Enabled columns".into()));
        };
        // Schedule = everything between Target and Rate (may contain spaces).
        let sched_start = toks.get(2).map(|t| t.0).unwrap_or(0);
        let schedule = line.get(sched_start..rate_tok.0).unwrap_or("").trim();
        out.push(PvesrListEntry {
            id: id.to_string(),
            job: job_id(id).map_err(bad)?,
            target: target.to_string(),
            target_node: target_node(target).map_err(bad)?,
            schedule: schedule.to_string(),
            rate: match rate_tok.1 {
                "-" => None,
                r => Some(number(r, "a rate in MB/s or `-`").map_err(bad)?),
            },
            enabled: yes_no(enabled_tok.1).map_err(bad)?,
        });
    }
    if !header {
        return Err(l.err("empty output (expected at least the header line)"));
    }
    Ok(out)
}

/// One row of `pvesr status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PvesrStatusEntry {
    pub id: String,
    pub job: JobId,
    pub enabled: bool,
    pub target: String,
    pub target_node: String,
    /// Local time `%Y-%m-%d_%H:%M:%S` as printed; `-` → Never.
    pub last_sync: SyncTime,
    /// `pending` when the next sync is overdue.
    pub next_sync: SyncTime,
    /// Seconds of the last run; `-` → None.
    pub duration: Option<f64>,
    pub fail_count: u32,
    /// `OK`, `SYNCING`, or the last error text (verbatim; continuation lines of a multi-line
    /// error are joined with `\n`).
    pub state: String,
}

impl PvesrStatusEntry {
    pub fn is_ok(&self) -> bool {
        self.state == "OK"
    }
    pub fn is_syncing(&self) -> bool {
        self.state == "SYNCING"
    }
}

/// A sync time column of `pvesr status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncTime {
    /// `-`
    Never,
    /// `pending`
    Pending,
    /// A local timestamp as printed.
    At(String),
}

impl SyncTime {
    fn parse(s: &str) -> SyncTime {
        match s {
            "-" => SyncTime::Never,
            "pending" => SyncTime::Pending,
            t => SyncTime::At(t.to_string()),
        }
    }
}

impl Serialize for SyncTime {
    /// `null`, `"pending"` or the timestamp string.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            SyncTime::Never => s.serialize_none(),
            SyncTime::Pending => s.serialize_str("pending"),
            SyncTime::At(t) => s.serialize_str(t),
        }
    }
}

/// Parse `pvesr status`. No jobs on this node → header only → empty list.
pub fn parse_pvesr_status(text: &str) -> Result<Vec<PvesrStatusEntry>> {
    let l = PVESR_STATUS;
    let mut out: Vec<PvesrStatusEntry> = Vec::new();
    let mut header = false;
    for (n, line) in numbered_lines(text) {
        let toks = tokens(line);
        if toks.is_empty() {
            continue;
        }
        if !header {
            if toks.first().map(|t| t.1) != Some("JobID") {
                return Err(l.err_at(n, line, "expected the header `JobID Enabled Target LastSync …`"));
            }
            header = true;
            continue;
        }
        let first = tok(&toks, 0);
        if JobId::parse(first).is_none() {
            // A multi-line error message continues the previous row's State.
            if let Some(prev) = out.last_mut() {
                prev.state.push('\n');
                prev.state.push_str(line.trim_end());
                continue;
            }
        }
        if toks.len() < 7 {
            return Err(l.err_at(
                n,
                line,
                "expected columns JobID Enabled Target LastSync NextSync Duration FailCount State",
            ));
        }
        let bad = |m: String| l.err_at(n, line, m);
        let target = tok(&toks, 2);
        let state = toks.get(7).map(|t| rest_from(line, t.0)).unwrap_or("");
        out.push(PvesrStatusEntry {
            id: first.to_string(),
            job: job_id(first).map_err(bad)?,
            enabled: yes_no(tok(&toks, 1)).map_err(bad)?,
            target: target.to_string(),
            target_node: target_node(target).map_err(bad)?,
            last_sync: SyncTime::parse(tok(&toks, 3)),
            next_sync: SyncTime::parse(tok(&toks, 4)),
            duration: match tok(&toks, 5) {
                "-" => None,
                d => Some(number(d, "a duration in seconds or `-`").map_err(bad)?),
            },
            fail_count: number(tok(&toks, 6), "a fail count").map_err(bad)?,
            state: state.to_string(),
        });
    }
    if !header {
        return Err(l.err("empty output (expected at least the header line)"));
    }
    Ok(out)
}

fn tok<'a>(toks: &[(usize, &'a str)], i: usize) -> &'a str {
    toks.get(i).map(|t| t.1).unwrap_or("")
}

fn job_id(s: &str) -> std::result::Result<JobId, String> {
    JobId::parse(s).ok_or_else(|| format!("expected a job id `<vmid>-<jobnum>`, got {s:?}"))
}

fn target_node(target: &str) -> std::result::Result<String, String> {
    match target.split_once('/') {
        Some((_, node)) if !node.is_empty() => Ok(node.to_string()),
        _ => Err(format!("expected a target `local/<node>`, got {target:?}")),
    }
}

fn yes_no(s: &str) -> std::result::Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected `yes`/`no`, got {s:?}")),
    }
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
    fn list() {
        let jobs = parse_pvesr_list(fixture!("pvesr-list.txt")).unwrap();
        assert_eq!(
            jobs,
            vec![
                PvesrListEntry {
                    id: "100-0".into(),
                    job: JobId { guest: 100, job_num: 0 },
                    target: "local/pve2".into(),
                    target_node: "pve2".into(),
                    schedule: "*/15".into(),
                    rate: None,
                    enabled: true,
                },
                PvesrListEntry {
                    id: "101-0".into(),
                    job: JobId { guest: 101, job_num: 0 },
                    target: "local/pve2".into(),
                    target_node: "pve2".into(),
                    schedule: "*/5".into(),
                    rate: Some(10.0),
                    enabled: false,
                },
            ]
        );
    }

    #[test]
    fn list_schedule_with_spaces() {
        let text = "JobID                Target                 Schedule  Rate  Enabled\n\
                    102-1                local/pve1       mon..fri 21:00   1.5      yes\n";
        let jobs = parse_pvesr_list(text).unwrap();
        assert_eq!(jobs[0].schedule, "mon..fri 21:00");
        assert_eq!(jobs[0].rate, Some(1.5));
        assert_eq!(jobs[0].job.to_string(), "102-1");
    }

    #[test]
    fn list_errors() {
        assert!(parse_pvesr_list("").is_err());
        assert_eq!(parse_pvesr_list("JobID Target Schedule Rate Enabled\n").unwrap(), vec![]);
        let e = parse_pvesr_list("JobID Target Schedule Rate Enabled\nabc local/pve2 */15 - yes\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_pvesr_list("JobID Target Schedule Rate Enabled\n100-0 pve2 */15 - yes\n").unwrap_err();
        assert!(e.message.contains("local/<node>"), "{e}");
        let e = parse_pvesr_list("JobID Target Schedule Rate Enabled\n100-0 local/pve2 */15 - maybe\n").unwrap_err();
        assert!(e.message.contains("yes"), "{e}");
    }

    #[test]
    fn status() {
        let s = parse_pvesr_status(fixture!("pvesr-status.txt")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            PvesrStatusEntry {
                id: "100-0".into(),
                job: JobId { guest: 100, job_num: 0 },
                enabled: true,
                target: "local/pve2".into(),
                target_node: "pve2".into(),
                last_sync: SyncTime::At("2025-09-01_12:00:01".into()),
                next_sync: SyncTime::At("2025-09-01_12:15:00".into()),
                duration: Some(2.873421),
                fail_count: 0,
                state: "OK".into(),
            }
        );
        assert!(s[0].is_ok());
        let b = &s[1];
        assert!(!b.enabled);
        assert_eq!((b.last_sync.clone(), b.next_sync.clone()), (SyncTime::Never, SyncTime::Pending));
        assert_eq!((b.duration, b.fail_count), (None, 3));
        assert_eq!(b.state, "command 'zfs snapshot ...' failed: exit code 1");
        assert!(!b.is_ok() && !b.is_syncing());
        let json = serde_json::to_value(b).unwrap();
        assert_eq!(json["last_sync"], serde_json::Value::Null);
        assert_eq!(json["next_sync"], "pending");
    }

    #[test]
    fn status_multiline_error_and_header_only() {
        let text = format!("{}  second line of the error\n", fixture!("pvesr-status.txt"));
        let s = parse_pvesr_status(&text).unwrap();
        assert_eq!(s[1].state, "command 'zfs snapshot ...' failed: exit code 1\n  second line of the error");
        let only = "JobID      Enabled    Target                           LastSync             NextSync   Duration  FailCount State\n";
        assert_eq!(parse_pvesr_status(only).unwrap(), vec![]);
        let e = parse_pvesr_status(&format!("{only}garbage here\n")).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_pvesr_status("").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
    }
}
