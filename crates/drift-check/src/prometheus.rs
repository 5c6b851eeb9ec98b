//! `--prometheus FILE`: node_exporter textfile-collector metrics, written atomically (temp file
//! in the same directory + rename) so the collector never reads half a file.
//!
//! ```text
//! homelab_drift_items{host,bucket}            drift items per host and bucket (checked hosts)
//! homelab_host_reachable{host}                1 when drift-check could log in
//! homelab_host_checked{host}                  1 when every check of the host ran
//! homelab_health_ok{host}                     1 when every health check of the host passed
//! homelab_cluster_quorate{host}               the node's view of quorum
//! homelab_cluster_votes_total{host}           Total votes (pvecm status)
//! homelab_cluster_votes_expected{host}        Expected votes (pvecm status)
//! homelab_corosync_link_up{host,link}         1 when the link is connected to every peer
//! homelab_drift_check_exit_code               the run's exit code (0 clean, 2 drift, 1 not checked)
//! homelab_drift_check_duration_seconds        wall time of the run
//! homelab_drift_last_run_timestamp_seconds    when the run finished (unix time)
//! ```
//!
//! Alert on `homelab_drift_items > 0`, `homelab_host_checked == 0`, `homelab_health_ok == 0`,
//! or `time() - homelab_drift_last_run_timestamp_seconds > 3600` (the timer stopped).

use crate::model::{Bucket, Report};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// A label value escaped as the text format requires (`\\`, `\"`, `\n`).
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family<'a> {
    name: &'a str,
    help: &'a str,
    samples: Vec<(Vec<(&'a str, String)>, String)>,
}

impl Family<'_> {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} gauge", self.name);
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                let _ = writeln!(out, "{}{{{}}} {value}", self.name, l.join(","));
            }
        }
    }
}

fn b(v: bool) -> String {
    if v { "1" } else { "0" }.to_string()
}

/// The metrics text of a run.
pub fn render(r: &Report) -> String {
    let mut fams: Vec<Family> = Vec::new();
    let mut items = Family {
        name: "homelab_drift_items",
        help: "Drift items found by the last drift-check run, per host and bucket (missing, different, unmanaged).",
        samples: vec![],
    };
    let mut reachable = Family { name: "homelab_host_reachable", help: "1 when drift-check could log in to the host.", samples: vec![] };
    let mut checked =
        Family { name: "homelab_host_checked", help: "1 when every check of the host ran (0: see the drift-check report).", samples: vec![] };
    let mut health = Family { name: "homelab_health_ok", help: "1 when every health check of the host passed.", samples: vec![] };
    let mut quorate =
        Family { name: "homelab_cluster_quorate", help: "1 when the node sees the cluster quorate (pvecm status).", samples: vec![] };
    let mut total = Family { name: "homelab_cluster_votes_total", help: "Total votes as the node sees them (pvecm status).", samples: vec![] };
    let mut expected =
        Family { name: "homelab_cluster_votes_expected", help: "Expected votes as the node sees them (pvecm status).", samples: vec![] };
    let mut links = Family {
        name: "homelab_corosync_link_up",
        help: "1 when the corosync link is connected to every peer (corosync-cfgtool -s).",
        samples: vec![],
    };
    for h in &r.hosts {
        let host = || vec![("host", h.host.clone())];
        reachable.samples.push((host(), b(h.reachable)));
        checked.samples.push((host(), b(h.errors.is_empty())));
        if !h.reachable {
            continue;
        }
        for bucket in [Bucket::Missing, Bucket::Different, Bucket::Unmanaged] {
            items.samples.push((vec![("host", h.host.clone()), ("bucket", bucket.as_str().into())], h.count(bucket).to_string()));
        }
        health.samples.push((host(), b(!h.health.degraded())));
        if let Some(q) = h.health.quorate {
            quorate.samples.push((host(), b(q)));
        }
        if let Some(v) = h.health.votes_total {
            total.samples.push((host(), v.to_string()));
        }
        if let Some(v) = h.health.votes_expected {
            expected.samples.push((host(), v.to_string()));
        }
        for (l, up) in &h.health.links {
            links.samples.push((vec![("host", h.host.clone()), ("link", l.to_string())], b(*up)));
        }
    }
    fams.extend([items, reachable, checked, health, quorate, total, expected, links]);
    let finished = r.started + r.elapsed;
    let ts = finished.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    fams.push(Family {
        name: "homelab_drift_check_exit_code",
        help: "Exit code of the last drift-check run: 0 clean, 2 drift or degraded health, 1 could not check.",
        samples: vec![(vec![], r.exit_code().to_string())],
    });
    fams.push(Family {
        name: "homelab_drift_check_duration_seconds",
        help: "Wall time of the last drift-check run.",
        samples: vec![(vec![], format!("{:.3}", r.elapsed.as_secs_f64()))],
    });
    fams.push(Family {
        name: "homelab_drift_last_run_timestamp_seconds",
        help: "Unix time when the last drift-check run finished.",
        samples: vec![(vec![], format!("{ts:.3}"))],
    });
    let mut out = String::new();
    for f in fams.iter().filter(|f| !f.samples.is_empty()) {
        f.render(&mut out);
    }
    out
}

/// Write `text` to `path` atomically: a temp file beside it (same filesystem), flushed, mode
/// 0644, then renamed over `path`.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let write = || -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    };
    let r = write();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.with_context(|| format!("writing the metrics file {} (does its directory exist and is it writable?)", path.display()))
}

#[cfg(test)]
#[path = "../tests/support/promtext.rs"]
mod promtext;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HostResult, HostRole};

    #[test]
    fn metrics_parse_as_strict_prometheus_text() {
        let r = crate::render::tests::sample();
        let text = render(&r);
        let m = promtext::parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert_eq!(m.value("homelab_drift_items", &[("host", "pve-node1"), ("bucket", "different")]), Some(1.0));
        assert_eq!(m.value("homelab_drift_items", &[("host", "pve-node1"), ("bucket", "unmanaged")]), Some(1.0));
        assert_eq!(m.value("homelab_drift_items", &[("host", "pve-node2"), ("bucket", "missing")]), Some(0.0));
        assert_eq!(m.value("homelab_drift_items", &[("host", "qdevice1"), ("bucket", "missing")]), None, "unknown, not 0");
        assert_eq!(m.value("homelab_host_reachable", &[("host", "qdevice1")]), Some(0.0));
        assert_eq!(m.value("homelab_host_checked", &[("host", "qdevice1")]), Some(0.0));
        assert_eq!(m.value("homelab_cluster_quorate", &[("host", "pve-node1")]), Some(1.0));
        assert_eq!(m.value("homelab_cluster_votes_total", &[("host", "pve-node1")]), Some(3.0));
        assert_eq!(m.value("homelab_cluster_votes_expected", &[("host", "pve-node1")]), Some(3.0));
        assert_eq!(m.value("homelab_corosync_link_up", &[("host", "pve-node1"), ("link", "1")]), Some(0.0));
        assert_eq!(m.value("homelab_health_ok", &[("host", "pve-node1")]), Some(0.0));
        assert_eq!(m.value("homelab_drift_check_exit_code", &[]), Some(1.0));
        assert_eq!(m.value("homelab_drift_last_run_timestamp_seconds", &[]), Some(1_800_000_000.4));
        assert_eq!(m.types["homelab_corosync_link_up"], "gauge");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut h = HostResult::new("we\"ird\\host\nname", HostRole::Node, "x");
        h.reachable = true;
        let r = crate::model::Report { hosts: vec![h], started: std::time::SystemTime::UNIX_EPOCH, elapsed: Default::default(), notes: vec![] };
        let text = render(&r);
        assert!(text.contains(r#"homelab_host_reachable{host="we\"ird\\host\nname"} 1"#), "{text}");
        let m = promtext::parse(&text).unwrap();
        assert_eq!(m.value("homelab_host_reachable", &[("host", "we\"ird\\host\nname")]), Some(1.0));
    }

    #[test]
    fn the_parser_is_strict() {
        let h = "# HELP homelab_x x\n# TYPE homelab_x gauge\n";
        let good = format!("{h}homelab_x{{host=\"a\",link=\"0\"}} 1\nhomelab_x{{host=\"b\"}} 2.5 1700000000000\n");
        assert_eq!(promtext::parse(&good).unwrap().family("homelab_x").len(), 2);
        for bad in [
            "# HELP homelab_x x\nhomelab_x 1\n".to_string(),             // no TYPE before the sample
            "# TYPE homelab_x gauge\nhomelab_x 1\n".to_string(),         // no HELP
            format!("{h}homelab_x{{host=\"a\" 1\n"),                   // unclosed labels
            format!("{h}homelab_x{{host=a}} 1\n"),                       // unquoted value
            format!("{h}homelab_x one\n"),                              // bad value
            format!("{h}homelab_x{{host=\"a\",host=\"b\"}} 1\n"),      // repeated label
            format!("{h}homelab_x 1\nhomelab_x 2\n"),                   // duplicate series
            format!("{h}homelab_x 1\n# TYPE homelab_x gauge\n"),        // TYPE twice / after samples
            format!("{h}homelab_x 1"),                                   // no final newline
            format!("{h}# HELP homelab_y y\n# TYPE homelab_y gauge\nhomelab_x{{a=\"1\"}} 1\nhomelab_y 1\nhomelab_x{{a=\"2\"}} 1\n"), // interleaved
            "# HELP 1x x\n# TYPE 1x gauge\n1x 1\n".to_string(),        // bad name
        ] {
            assert!(promtext::parse(&bad).is_err(), "accepted:\n{bad}");
        }
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("homelab.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b 2\n");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        let e = write_atomic(&d.path().join("no/such/dir/x.prom"), "x").unwrap_err();
        assert!(format!("{e:#}").contains("does its directory exist"), "{e:#}");
    }
}
