//! Results of a run: per resource, per host, per phase; rendered for humans (grouped per
//! host, nothing interleaved) or as JSON with a stable shape.

use crate::cli::exit;
use serde_json::{json, Value};
use std::time::Duration;

use super::Mode;

/// What happened to one resource (or one imperative step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already in state.
    Ok,
    /// Was changed and verified.
    Changed,
    /// `--check`: would be changed.
    WouldChange,
    /// Probe, apply or verification failed (the reason).
    Failed(String),
    /// Not attempted because an earlier step on this host failed.
    Skipped,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Changed => "changed",
            Outcome::WouldChange => "would change",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped => "skipped",
        }
    }
    fn json_name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Changed => "changed",
            Outcome::WouldChange => "would_change",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceResult {
    pub id: String,
    pub outcome: Outcome,
    /// One line: what differs / what was done. For failures, the reason.
    pub summary: String,
    /// Readable diff (unified diff, `mode 0644 → 0600` …), if any.
    pub diff: Option<String>,
}

impl ResourceResult {
    pub fn new(id: impl Into<String>, outcome: Outcome, summary: impl Into<String>) -> Self {
        ResourceResult { id: id.into(), outcome, summary: summary.into(), diff: None }
    }
}

/// Everything that happened on one host.
#[derive(Debug, Clone, Default)]
pub struct HostReport {
    pub host: String,
    pub results: Vec<ResourceResult>,
    /// Remote commands run (observation = 1, each apply, verification = 1).
    pub round_trips: u32,
    /// A host-level failure (unreachable, auth, observation failed).
    pub error: Option<String>,
    pub elapsed: Duration,
    /// Time spent connecting (TCP + handshake + auth); part of `elapsed` when set by
    /// [`super::with_session`].
    pub connect_time: Duration,
    /// Noteworthy facts that are not resources ("pinned new host key …").
    pub notes: Vec<String>,
}

impl HostReport {
    pub fn new(host: impl Into<String>) -> Self {
        HostReport { host: host.into(), ..Default::default() }
    }

    /// A host that could not be worked at all.
    pub fn failed(host: impl Into<String>, err: impl std::fmt::Display) -> Self {
        HostReport { host: host.into(), error: Some(crate::secret::redact(&format!("{err:#}"))), ..Default::default() }
    }

    /// Append another report of the same host (a later step of the phase).
    pub fn merge(&mut self, other: HostReport) {
        if self.host.is_empty() {
            self.host = other.host;
        }
        self.results.extend(other.results);
        self.round_trips += other.round_trips;
        self.elapsed += other.elapsed;
        self.connect_time += other.connect_time;
        self.notes.extend(other.notes);
        self.error = match (self.error.take(), other.error) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
    }

    /// Record an imperative step (e.g. `pvecm add`) next to the resources.
    pub fn push(&mut self, id: impl Into<String>, outcome: Outcome, summary: impl Into<String>) {
        self.results.push(ResourceResult::new(id, outcome, summary));
    }

    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.outcome)).count()
    }
    pub fn ok_count(&self) -> usize {
        self.count(|o| *o == Outcome::Ok)
    }
    pub fn changed_count(&self) -> usize {
        self.count(|o| *o == Outcome::Changed)
    }
    pub fn would_change_count(&self) -> usize {
        self.count(|o| *o == Outcome::WouldChange)
    }
    /// Failed resources plus a host-level error.
    pub fn failed_count(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_))) + usize::from(self.error.is_some())
    }
    /// Changed or would change.
    pub fn changes(&self) -> usize {
        self.changed_count() + self.would_change_count()
    }
    pub fn has_failures(&self) -> bool {
        self.failed_count() > 0
    }

    /// `pve-node1: 12 ok, 3 changed, 0 failed` (+ ` (2 round trips, 0.41 s)` when verbose).
    pub fn summary_line(&self, verbose: u8) -> String {
        let mut s = format!("{}: {} ok, {} changed", self.host, self.ok_count(), self.changed_count());
        if self.would_change_count() > 0 {
            s.push_str(&format!(", {} would change", self.would_change_count()));
        }
        s.push_str(&format!(", {} failed", self.failed_count()));
        let skipped = self.count(|o| *o == Outcome::Skipped);
        if skipped > 0 {
            s.push_str(&format!(", {skipped} skipped"));
        }
        if verbose > 0 {
            let trips = if self.round_trips == 1 { "round trip" } else { "round trips" };
            s.push_str(&format!(" ({} {trips}, {:.2} s", self.round_trips, self.elapsed.as_secs_f64()));
            if !self.connect_time.is_zero() {
                s.push_str(&format!(", connect {:.2} s", self.connect_time.as_secs_f64()));
            }
            s.push(')');
        }
        s
    }

    /// The host's block: a header, one line per resource (ok lines only with -v), diffs
    /// indented below their line, notes, and the summary line.
    pub fn render(&self, verbose: u8) -> String {
        let mut out = format!("{}\n", self.host);
        if let Some(e) = &self.error {
            for (i, line) in e.lines().enumerate() {
                let label = if i == 0 { "FAILED" } else { "" };
                out.push_str(&format!("  {label:<13} {line}\n"));
            }
        }
        for r in &self.results {
            if r.outcome == Outcome::Ok && verbose == 0 {
                continue;
            }
            let detail = match &r.outcome {
                Outcome::Failed(why) if r.summary.is_empty() || r.summary == *why => why.clone(),
                Outcome::Failed(why) => format!("{}: {why}", r.summary),
                _ => r.summary.clone(),
            };
            if detail.is_empty() {
                out.push_str(&format!("  {:<13} {}\n", r.outcome.label(), r.id));
            } else {
                let mut lines = detail.lines();
                out.push_str(&format!("  {:<13} {}: {}\n", r.outcome.label(), r.id, lines.next().unwrap_or("")));
                for l in lines {
                    out.push_str(&format!("  {:<13}   {l}\n", ""));
                }
            }
            if let Some(diff) = &r.diff {
                for l in diff.lines() {
                    out.push_str(&format!("      {l}\n"));
                }
            }
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out.push_str(&self.summary_line(verbose));
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "host": self.host,
            "ok": self.ok_count(),
            "changed": self.changed_count(),
            "would_change": self.would_change_count(),
            "failed": self.failed_count(),
            "round_trips": self.round_trips,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "connect_ms": self.connect_time.as_millis() as u64,
            "error": self.error,
            "notes": self.notes,
            "resources": self.results.iter().map(|r| json!({
                "id": r.id,
                "outcome": r.outcome.json_name(),
                "summary": match &r.outcome {
                    Outcome::Failed(why) if r.summary.is_empty() => why.clone(),
                    _ => r.summary.clone(),
                },
                "error": match &r.outcome { Outcome::Failed(why) => Some(why.clone()), _ => None },
                "diff": r.diff,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The whole run of one phase.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub phase: String,
    pub hosts: Vec<HostReport>,
}

impl RunReport {
    pub fn new(phase: impl Into<String>, hosts: Vec<HostReport>) -> Self {
        RunReport { phase: phase.into(), hosts }
    }

    /// Host blocks one after the other (never interleaved), separated by blank lines.
    pub fn render_human(&self, verbose: u8) -> String {
        let blocks: Vec<String> = self.hosts.iter().map(|h| h.render(verbose)).collect();
        crate::secret::redact(&blocks.join("\n"))
    }

    /// `{phase, hosts:[{host, ok, changed, would_change, failed, round_trips, elapsed_ms,
    /// connect_ms, error, notes, resources:[{id, outcome, summary, error, diff}]}], changes,
    /// failed}`. `outcome` is one of ok / changed / would_change / failed / skipped.
    pub fn to_json(&self) -> Value {
        let v = json!({
            "phase": self.phase,
            "hosts": self.hosts.iter().map(HostReport::to_json).collect::<Vec<_>>(),
            "changes": self.changes(),
            "failed": self.failures(),
        });
        // Second line of defence: no registered secret leaves in a report.
        serde_json::from_str(&crate::secret::redact(&v.to_string())).unwrap_or(v)
    }

    /// Changed + would-change resources over all hosts.
    pub fn changes(&self) -> usize {
        self.hosts.iter().map(HostReport::changes).sum()
    }

    pub fn failures(&self) -> usize {
        self.hosts.iter().map(HostReport::failed_count).sum()
    }

    /// 1 on any failure; 2 in check mode with pending changes; else 0.
    pub fn exit_code(&self, mode: Mode) -> i32 {
        if self.failures() > 0 {
            exit::ERROR
        } else if mode == Mode::Check && self.changes() > 0 {
            exit::CHANGES
        } else {
            exit::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunReport {
        let mut a = HostReport::new("pve-node1");
        a.push("file /etc/a", Outcome::Ok, "");
        a.results.push(ResourceResult {
            id: "file /etc/b".into(),
            outcome: Outcome::WouldChange,
            summary: "content differs".into(),
            diff: Some("-old\n+new".into()),
        });
        a.round_trips = 1;
        a.elapsed = Duration::from_millis(410);
        let b = HostReport::failed("pve-node2", "pve-node2 (10.0.0.2:22): connection refused");
        RunReport::new("bootstrap-node", vec![a, b])
    }

    #[test]
    fn human_render_groups_hosts_and_indents_diffs() {
        let r = sample();
        let text = r.render_human(0);
        assert!(!text.contains("file /etc/a"), "ok lines only with -v:\n{text}");
        assert!(text.contains("  would change  file /etc/b: content differs\n      -old\n      +new\n"), "{text}");
        assert!(text.contains("pve-node1: 1 ok, 0 changed, 1 would change, 0 failed\n"), "{text}");
        assert!(text.contains("  FAILED        pve-node2 (10.0.0.2:22): connection refused"), "{text}");
        let v = r.render_human(1);
        assert!(v.contains("  ok            file /etc/a\n"), "{v}");
        assert!(v.contains("pve-node1: 1 ok, 0 changed, 1 would change, 0 failed (1 round trip, 0.41 s)"), "{v}");
    }

    #[test]
    fn json_shape_and_exit_codes() {
        let r = sample();
        let j = r.to_json();
        assert_eq!(j["phase"], "bootstrap-node");
        assert_eq!(j["changes"], 1);
        assert_eq!(j["hosts"][0]["resources"][1]["outcome"], "would_change");
        assert_eq!(j["hosts"][0]["elapsed_ms"], 410);
        assert_eq!(j["hosts"][1]["failed"], 1);
        assert_eq!(r.exit_code(Mode::Check), 1);
        let ok_only = RunReport::new("x", vec![r.hosts[0].clone()]);
        assert_eq!(ok_only.exit_code(Mode::Check), 2);
        assert_eq!(ok_only.exit_code(Mode::Apply), 0);
    }

    #[test]
    fn merge_sums_and_keeps_both_errors() {
        let mut a = HostReport::new("h");
        a.round_trips = 1;
        let mut b = HostReport::failed("h", "x");
        b.round_trips = 2;
        a.merge(b);
        assert_eq!(a.round_trips, 3);
        assert_eq!(a.error.as_deref(), Some("x"));
    }
}
