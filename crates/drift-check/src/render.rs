//! The report for people (a table per host), for machines (`--json`, a stable schema) and for
//! CI summaries (`--markdown`, e.g. `$GITHUB_STEP_SUMMARY`).

use crate::model::{Bucket, HostResult, Level, Report};
use serde_json::{json, Value};

const BUCKETS: [Bucket; 3] = [Bucket::Missing, Bucket::Different, Bucket::Unmanaged];

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1 different, 2 unmanaged` (only non-zero buckets) or `in state`.
fn drift_line(h: &HostResult) -> String {
    let parts: Vec<String> =
        BUCKETS.iter().filter(|b| h.count(**b) > 0).map(|b| format!("{} {}", h.count(*b), b.as_str())).collect();
    if parts.is_empty() {
        "in state".into()
    } else {
        parts.join(", ")
    }
}

fn health_line(h: &HostResult) -> String {
    let problems = h.health.problems();
    if problems.is_empty() {
        return "health ok".into();
    }
    let names: Vec<&str> = problems.iter().map(|c| c.check.as_str()).collect();
    format!("health {}: {}", h.health.level().as_str(), names.join(", "))
}

/// `2 round trips (connect + 1 observation: 61 probes, 48 distinct), 0.31 s, connect 0.12 s`
pub fn trips_line(h: &HostResult) -> String {
    let obs = h.round_trips.saturating_sub(1);
    format!(
        "{} (connect + {}: {} probes, {} distinct), {:.2} s, connect {:.2} s",
        plural(h.round_trips as usize, "round trip", "round trips"),
        plural(obs as usize, "observation", "observations"),
        h.probes.0,
        h.probes.1,
        h.elapsed.as_secs_f64(),
        h.connect_time.as_secs_f64()
    )
}

/// One host's block.
pub fn render_host(h: &HostResult, verbose: u8) -> String {
    let mut out = String::new();
    if !h.reachable {
        out.push_str(&format!("{} ({}): NOT CHECKED\n", h.host, h.address));
        for e in &h.errors {
            for (i, l) in e.lines().enumerate() {
                out.push_str(&format!("  {:<10} {l}\n", if i == 0 { "error" } else { "" }));
            }
        }
        return out;
    }
    out.push_str(&format!("{} ({}): {}; {}\n", h.host, h.address, drift_line(h), health_line(h)));
    let width = h.drift.iter().map(|d| d.resource.chars().count()).max().unwrap_or(0).min(48);
    for d in &h.drift {
        out.push_str(&format!("  {:<10} {:<width$}  {}", d.bucket.as_str(), d.resource, d.summary));
        if verbose > 0 {
            out.push_str(&format!("  [{}]", d.phase));
        }
        out.push('\n');
        if let Some(diff) = &d.diff {
            for l in diff.lines() {
                out.push_str(&format!("  {:<10}   {l}\n", ""));
            }
        }
    }
    for c in &h.health.checks {
        if c.level == Level::Ok && verbose == 0 {
            continue;
        }
        let label = match c.level {
            Level::Ok => "ok",
            Level::Degraded => "DEGRADED",
            Level::Failed => "FAILED",
        };
        out.push_str(&format!("  {:<10} {:<8} {}: {}\n", "health", label, c.check, c.message));
    }
    for e in &h.errors {
        out.push_str(&format!("  {:<10} {e}\n", "error"));
    }
    for n in &h.notes {
        out.push_str(&format!("  {:<10} {n}\n", "note"));
    }
    if verbose > 0 {
        out.push_str(&format!("  {:<10} {}; phases: {}\n", "checked", trips_line(h), h.phases.join(", ")));
    }
    out
}

/// The totals line and the exit code it leads to.
pub fn totals_line(r: &Report) -> String {
    let t = r.totals();
    let mut s = format!(
        "drift-check: {}: {} missing, {} different, {} unmanaged; health degraded on {}",
        plural(t.hosts, "host", "hosts"),
        t.missing,
        t.different,
        t.unmanaged,
        plural(t.degraded_hosts, "host", "hosts")
    );
    if t.not_checked > 0 {
        let names: Vec<&str> = r.hosts.iter().filter(|h| !h.errors.is_empty()).map(|h| h.host.as_str()).collect();
        s.push_str(&format!("; NOT CHECKED: {}", names.join(", ")));
    }
    s.push_str(&format!(" → exit {}", r.exit_code()));
    s
}

/// Every host block, then the totals.
pub fn human(r: &Report, verbose: u8) -> String {
    let blocks: Vec<String> = r.hosts.iter().map(|h| render_host(h, verbose)).collect();
    let mut out = blocks.join("\n");
    out.push('\n');
    if verbose > 0 {
        out.push_str(&format!("checked in {:.2} s\n", r.elapsed.as_secs_f64()));
    }
    out.push_str(&totals_line(r));
    out.push('\n');
    common::secret::redact(&out)
}

/// The `--json` schema (stable; fields are only ever added):
///
/// ```text
/// {tool, version, checked_at (unix s), elapsed_ms,
///  hosts: [{host, role, address, reachable, error, round_trips, elapsed_ms, connect_ms, phases,
///           notes, drift: [{bucket, phase, resource, summary, diff}],
///           health: {ok, level, quorate, votes_total, votes_expected, links: {"0": bool, …},
///                    replication_failures, storages_inactive: [..],
///                    checks: [{check, level, message}]}}],
///  totals: {hosts, unreachable, not_checked, missing, different, unmanaged, degraded_hosts},
///  exit}
/// ```
pub fn json(r: &Report) -> Value {
    let t = r.totals();
    let hosts: Vec<Value> = r
        .hosts
        .iter()
        .map(|h| {
            let links: serde_json::Map<String, Value> =
                h.health.links.iter().map(|(k, v)| (k.to_string(), Value::Bool(*v))).collect();
            json!({
                "host": h.host,
                "role": h.role.as_str(),
                "address": h.address,
                "reachable": h.reachable,
                "error": h.error(),
                "round_trips": h.round_trips,
                "elapsed_ms": h.elapsed.as_millis() as u64,
                "connect_ms": h.connect_time.as_millis() as u64,
                "phases": h.phases,
                "notes": h.notes,
                "drift": h.drift.iter().map(|d| json!({
                    "bucket": d.bucket.as_str(),
                    "phase": d.phase,
                    "resource": d.resource,
                    "summary": d.summary,
                    "diff": d.diff,
                })).collect::<Vec<_>>(),
                "health": {
                    "ok": !h.health.degraded(),
                    "level": h.health.level().as_str(),
                    "quorate": h.health.quorate,
                    "votes_total": h.health.votes_total,
                    "votes_expected": h.health.votes_expected,
                    "links": links,
                    "replication_failures": h.health.replication_failures,
                    "storages_inactive": h.health.storages_inactive,
                    "checks": h.health.checks.iter().map(|c| json!({
                        "check": c.check, "level": c.level.as_str(), "message": c.message,
                    })).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let checked_at = r.started.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let v = json!({
        "tool": "drift-check",
        "version": common::VERSION,
        "checked_at": checked_at,
        "elapsed_ms": r.elapsed.as_millis() as u64,
        "hosts": hosts,
        "totals": {
            "hosts": t.hosts,
            "unreachable": t.unreachable,
            "not_checked": t.not_checked,
            "missing": t.missing,
            "different": t.different,
            "unmanaged": t.unmanaged,
            "degraded_hosts": t.degraded_hosts,
        },
        "exit": r.exit_code(),
    });
    // No registered secret ever leaves in a report.
    serde_json::from_str(&common::secret::redact(&v.to_string())).unwrap_or(v)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A Markdown summary (GitHub step summary, Semaphore/issue comments).
pub fn markdown(r: &Report) -> String {
    let t = r.totals();
    let verdict = match r.exit_code() {
        0 => "clean",
        2 => "DRIFT or degraded health",
        _ => "COULD NOT CHECK everything",
    };
    let mut s = format!(
        "## drift-check: {verdict} (exit {})\n\n{} missing, {} different, {} unmanaged; health degraded on {} of {} hosts; {} not checked.\n\n",
        r.exit_code(),
        t.missing,
        t.different,
        t.unmanaged,
        t.degraded_hosts,
        t.hosts,
        t.not_checked
    );
    s.push_str("| host | checked | missing | different | unmanaged | health |\n|---|---|---|---|---|---|\n");
    for h in &r.hosts {
        let checked = if h.errors.is_empty() { "yes".to_string() } else { format!("**no**: {}", cell(&h.errors.join("; "))) };
        s.push_str(&format!(
            "| {} | {checked} | {} | {} | {} | {} |\n",
            h.host,
            h.count(Bucket::Missing),
            h.count(Bucket::Different),
            h.count(Bucket::Unmanaged),
            cell(&health_line(h))
        ));
    }
    for h in r.hosts.iter().filter(|h| !h.drift.is_empty() || h.health.degraded()) {
        s.push_str(&format!("\n### {}\n\n| bucket | resource | summary |\n|---|---|---|\n", h.host));
        for d in &h.drift {
            s.push_str(&format!("| {} | `{}` | {} |\n", d.bucket.as_str(), cell(&d.resource), cell(&d.summary)));
        }
        for c in h.health.problems() {
            s.push_str(&format!("| health {} | {} | {} |\n", c.level.as_str(), cell(&c.check), cell(&c.message)));
        }
        let diffs: Vec<String> = h
            .drift
            .iter()
            .filter_map(|d| d.diff.as_ref().map(|x| format!("# {}\n{}", d.resource, x.trim_end())))
            .collect();
        if !diffs.is_empty() {
            s.push_str(&format!("\n<details><summary>diffs</summary>\n\n```diff\n{}\n```\n</details>\n", diffs.join("\n")));
        }
    }
    common::secret::redact(&s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{DriftItem, HostRole};
    use std::time::{Duration, SystemTime};

    pub(crate) fn sample() -> Report {
        let mut a = HostResult::new("pve-node1", HostRole::Node, "10.231.10.11");
        a.reachable = true;
        a.round_trips = 2;
        a.probes = (61, 48);
        a.elapsed = Duration::from_millis(310);
        a.phases = vec!["bootstrap-node".into(), "form-cluster".into()];
        a.drift.push(
            DriftItem::new(Bucket::Different, "bootstrap-node", "sshd /etc/ssh/sshd_config.d/00-homelab-iac.conf", "content differs")
                .with_diff(Some("--- a (current)\n+++ a (desired)\n-MaxAuthTries 6\n+MaxAuthTries 3\n".into())),
        );
        a.drift.push(DriftItem::new(Bucket::Unmanaged, "configure-storage", "backup extra", "schedule daily, not in the inventory"));
        a.health.quorate = Some(true);
        a.health.votes_total = Some(3);
        a.health.votes_expected = Some(3);
        a.health.links.insert(0, true);
        a.health.links.insert(1, false);
        a.health.push("quorum", Level::Ok, "quorate yes, Expected votes 3, Total votes 3");
        a.health.push("link1", Level::Degraded, "degraded: to pve-node2 (node id 2): disconnected");
        let mut b = HostResult::new("pve-node2", HostRole::Node, "10.231.10.12");
        b.reachable = true;
        b.round_trips = 2;
        let mut c = HostResult::new("qdevice1", HostRole::QDevice, "10.231.10.5");
        c.errors.push("unreachable: qdevice1 (10.231.10.5:22): connection refused; is sshd running?".into());
        Report { hosts: vec![a, b, c], started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000), elapsed: Duration::from_millis(400), notes: vec![] }
    }

    #[test]
    fn human_table_groups_per_host_with_diffs_and_a_totals_line() {
        let r = sample();
        let t = human(&r, 0);
        assert!(t.starts_with("pve-node1 (10.231.10.11): 1 different, 1 unmanaged; health degraded: link1\n"), "{t}");
        assert!(t.contains("  different  sshd /etc/ssh/sshd_config.d/00-homelab-iac.conf  content differs\n"), "{t}");
        assert!(t.contains("               -MaxAuthTries 6\n"), "{t}");
        assert!(t.contains("  unmanaged  backup extra"), "{t}");
        assert!(t.contains("  health     DEGRADED link1: degraded: to pve-node2"), "{t}");
        assert!(!t.contains("quorum"), "ok checks only with -v:\n{t}");
        assert!(t.contains("pve-node2 (10.231.10.12): in state; health ok\n"), "{t}");
        assert!(t.contains("qdevice1 (10.231.10.5): NOT CHECKED\n  error      unreachable: qdevice1"), "{t}");
        assert!(t.ends_with("drift-check: 3 hosts: 0 missing, 1 different, 1 unmanaged; health degraded on 1 host; NOT CHECKED: qdevice1 → exit 1\n"), "{t}");
        let v = human(&r, 1);
        assert!(v.contains("  health     ok       quorum: quorate yes"), "{v}");
        assert!(v.contains("  checked    2 round trips (connect + 1 observation: 61 probes, 48 distinct), 0.31 s"), "{v}");
        assert!(v.contains("content differs  [bootstrap-node]"), "{v}");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let j = json(&sample());
        assert_eq!(j["exit"], 1);
        assert_eq!(j["checked_at"], 1_800_000_000u64);
        assert_eq!(j["totals"]["different"], 1);
        assert_eq!(j["totals"]["unreachable"], 1);
        let h = &j["hosts"][0];
        for k in ["host", "role", "address", "reachable", "error", "round_trips", "drift", "health", "phases", "notes"] {
            assert!(h.get(k).is_some(), "missing {k} in {h}");
        }
        assert_eq!(h["drift"][0]["bucket"], "different");
        assert_eq!(h["drift"][0]["phase"], "bootstrap-node");
        assert!(h["drift"][0]["diff"].as_str().unwrap().contains("+MaxAuthTries 3"));
        assert_eq!(h["health"]["links"]["1"], false);
        assert_eq!(h["health"]["votes_total"], 3);
        assert_eq!(h["health"]["ok"], false);
        assert_eq!(h["health"]["checks"][1]["level"], "degraded");
        assert_eq!(j["hosts"][1]["error"], Value::Null);
        assert_eq!(j["hosts"][1]["health"]["quorate"], Value::Null);
        assert_eq!(j["hosts"][2]["reachable"], false);
        assert!(j["hosts"][2]["error"].as_str().unwrap().contains("connection refused"));
    }

    #[test]
    fn markdown_summary_has_a_table_and_escapes_pipes() {
        let mut r = sample();
        r.hosts[0].drift[1].summary = "a | b".into();
        let m = markdown(&r);
        assert!(m.starts_with("## drift-check: COULD NOT CHECK everything (exit 1)\n"), "{m}");
        assert!(m.contains("| pve-node1 | yes | 0 | 1 | 1 | health degraded: link1 |"), "{m}");
        assert!(m.contains("| qdevice1 | **no**: unreachable"), "{m}");
        assert!(m.contains("a \\| b"), "{m}");
        assert!(m.contains("```diff\n# sshd /etc/ssh/sshd_config.d/00-homelab-iac.conf\n"), "{m}");
    }
}
