//! The read-only commands this phase observes with, and the batched observation that runs
//! each distinct command once.
//!
//! Several resources read the same API path (every storage reads `/storage`, every backup job
//! `/cluster/backup`): their probes are identical snippets, and [`observe_deduped`] runs each
//! distinct snippet once inside the one `sh -s` round trip, handing the same output to all.
//! On a real node every `pvesh` call costs a Perl start-up, so this keeps a converged run at
//! one call per API path.

use anyhow::{bail, Result};
use common::engine::{self, Observed};
use common::ssh::{quote, Session};
use std::collections::HashMap;

/// Storage definitions, cluster-wide (pve-cli.md §4.4).
pub const STORAGE: &str = "pvesh get /storage --output-format json\n";
/// Backup jobs, cluster-wide (pve-cli.md §6.3).
pub const BACKUP: &str = "pvesh get /cluster/backup --output-format json\n";
/// Cluster membership and quorum (pve-cli.md §7.1).
pub const CLUSTER_STATUS: &str = "pvesh get /cluster/status --output-format json\n";

/// Where configure-storage records the replication jobs it created (in the cluster
/// filesystem, so every node and every operator machine sees the same record).
pub const MANAGED_RECORD: &str = "/etc/pve/homelab-iac/managed.json";

/// Replication jobs (pve-cli.md §5.2) together with the record of the jobs this tool created:
/// the jobs and the cleanup read both, in one snippet.
pub fn replication() -> String {
    format!(
        "{}cat {} 2>/dev/null || true\n{}pvesh get /cluster/replication --output-format json\n",
        crate::diff::section_marker("managed"),
        MANAGED_RECORD,
        crate::diff::section_marker("jobs"),
    )
}

/// This node's view of every storage: enabled, active (mounted), usage (pve-cli.md §4.1).
pub fn node_storage(node: &str) -> String {
    format!("pvesh get /nodes/{}/storage --output-format json\n", quote(node))
}

/// Replication status of the jobs whose guest lives on `node` (pve-cli.md §5.2).
pub fn node_replication(node: &str) -> String {
    format!("pvesh get /nodes/{}/replication --output-format json\n", quote(node))
}

/// The exports an NFS server offers (`showmount` underneath; non-zero when unreachable).
pub fn nfs_scan(server: &str) -> String {
    format!("pvesm scan nfs {}\n", quote(server))
}

/// A guest's config wherever it lives: `@@homelab-iac PATH@@` + content per file found.
pub fn guest(vmid: u32) -> String {
    format!(
        "for f in /etc/pve/nodes/*/qemu-server/{vmid}.conf /etc/pve/nodes/*/lxc/{vmid}.conf; do\n\
         \x20 [ -f \"$f\" ] || continue\n\
         \x20 printf '%s\\n' \"@@homelab-iac $f@@\"; cat \"$f\"\n\
         done\ntrue\n"
    )
}

/// The JSON a `pvesh get` probe printed, or an error naming the command and its stderr.
pub fn pvesh_output<'a>(observed: &'a Observed, what: &str) -> Result<&'a str> {
    if observed.status != 0 {
        let err = observed.stderr.trim();
        let err = if err.is_empty() { observed.stdout.trim() } else { err };
        bail!("`{what}` failed (exit {}): {}", observed.status, tail(err, 5));
    }
    Ok(&observed.stdout)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run `probes` in one round trip, each distinct snippet once; results in `probes` order.
pub fn observe_deduped(session: &Session, probes: &[(String, String)]) -> Result<Vec<Observed>> {
    let (unique, index) = dedupe(probes);
    let observed = engine::observe_list(session, &unique)?;
    Ok(index.into_iter().map(|i| observed[i].clone()).collect())
}

/// Distinct snippets (keyed by their first user) and, per probe, the index of its snippet.
pub fn dedupe(probes: &[(String, String)]) -> (Vec<(String, String)>, Vec<usize>) {
    let mut unique: Vec<(String, String)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut index = Vec::with_capacity(probes.len());
    for (key, snippet) in probes {
        let i = *seen.entry(snippet.as_str()).or_insert_with(|| {
            unique.push((key.clone(), snippet.clone()));
            unique.len() - 1
        });
        index.push(i);
    }
    (unique, index)
}

/// One probe in its own round trip (apply's fallback when it has no evaluated plan).
pub fn run_one(session: &Session, snippet: &str) -> Result<Observed> {
    let mut list = engine::observe_list(session, &[("probe".to_string(), snippet.to_string())])?;
    Ok(list.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_snippets_run_once() {
        let p = |k: &str, s: &str| (k.to_string(), s.to_string());
        let probes = vec![p("storage a", STORAGE), p("x", "true\n"), p("storage b", STORAGE), p("y", "true\n"), p("z", BACKUP)];
        let (unique, index) = dedupe(&probes);
        assert_eq!(unique.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["storage a", "x", "z"]);
        assert_eq!(index, [0, 1, 0, 1, 2]);
    }

    #[test]
    fn guest_probe_finds_configs_in_sh() {
        // The probe globs /etc/pve; on this machine there is none, so it prints nothing and succeeds.
        let out = std::process::Command::new("sh").arg("-c").arg(guest(900)).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    }

    #[test]
    fn pvesh_failures_name_the_command() {
        let mut o = Observed::new("", 2);
        o.stderr = "a\nb\nno quorum\n".into();
        let e = pvesh_output(&o, "pvesh get /storage").unwrap_err().to_string();
        assert_eq!(e, "`pvesh get /storage` failed (exit 2): a\nb\nno quorum");
        assert_eq!(pvesh_output(&Observed::new("[]", 0), "x").unwrap(), "[]");
    }
}
