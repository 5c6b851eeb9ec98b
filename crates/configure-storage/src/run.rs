//! The whole flow of one configure-storage run.
//!
//! 1. connect to the master and the selected nodes (automation user, pinned keys), in parallel;
//! 2. observe every host in ONE round trip: its facts and all its resources' probes, each
//!    distinct command once ([`crate::probes::observe_deduped`]);
//! 3. evaluate every resource, then the preflight ([`crate::preflight`]) — any refusal stops
//!    here, before anything changed, with the plan still shown;
//! 4. `--check`: report the plan with field-level diffs and the health checks;
//! 5. apply: per-node resources on all nodes in parallel (ZFS, monitoring, the test guest),
//!    then the cluster-wide objects on the master in order (storages → directories →
//!    replication jobs → cleanup → backup jobs); re-observe what changed (one round trip per
//!    host) and require it in state; after storage changes wait until every storage is active
//!    on every node it applies to; report replication health.
//!
//! A converged cluster costs one round trip per host and reports zero changes.

use crate::desired::{Desired, Options};
use crate::facts::{self, ClusterFacts, NodeFacts};
use crate::health;
use crate::nfs::{self, NfsPlan};
use crate::preflight;
use crate::probes::observe_deduped;
use crate::replication::{self, ReplicationPlan};
use anyhow::{bail, Result};
use common::access;
use common::engine::{HostReport, Mode, Observed, Outcome, Resource, ResourceResult, RunReport, Status};
use common::inventory::LoadedInventory;
use common::parsers::pvesh::storage::NodeStorage;
use common::ssh::Session;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub const PHASE: &str = "configure-storage";

/// How to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub opts: Options,
    /// `--node`: limit the per-node work (ZFS, monitoring, activity checks) to these nodes; empty
    /// = all. The master is always contacted: the cluster-wide objects are managed through it.
    pub nodes: Vec<String>,
    /// Upper bound for waiting until changed storages are active on every node.
    pub timeout: Duration,
}

impl Settings {
    pub fn check() -> Self {
        Settings { mode: Mode::Check, opts: Options::default(), nodes: Vec::new(), timeout: Duration::from_secs(60) }
    }
}

/// A connected host and what this run does there.
struct Host {
    name: String,
    session: Session,
    is_master: bool,
    /// Per-node work is done here (`--node` selection).
    selected: bool,
}

/// Run `f` for every item on its own thread; results in input order.
fn par<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items.iter().map(|i| scope.spawn(move || f(i))).collect();
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    })
}

/// Node names `--node` selects (all without it); an unknown name is an error.
fn selection(loaded: &LoadedInventory, nodes: &[String]) -> Result<Vec<String>> {
    let known: Vec<&str> = loaded.inv.nodes.iter().map(|n| n.name.as_str()).collect();
    for n in nodes {
        if !known.contains(&n.as_str()) {
            bail!("--node {n}: no such node in {} (nodes: {})", loaded.path.display(), known.join(", "));
        }
    }
    Ok(known.iter().filter(|k| nodes.is_empty() || nodes.iter().any(|n| n == *k)).map(|k| k.to_string()).collect())
}

/// Connect to `names` in parallel; any failure is an error before anything changed.
fn connect(loaded: &LoadedInventory, d: &Desired, selected: &[String]) -> Result<Vec<Host>> {
    let names: Vec<String> =
        d.nodes.iter().filter(|n| **n == d.master || selected.contains(n)).cloned().collect();
    let results = par(&names, |n| (n.clone(), access::connect_automation(loaded, n)));
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    for (name, r) in results {
        match r {
            Ok(session) => hosts.push(Host {
                is_master: name == d.master,
                selected: selected.contains(&name),
                name,
                session,
            }),
            Err(e) if name == d.master => errors.insert(
                0,
                format!("{e:#}\n{name} is the master: the cluster-wide storages and jobs are managed through it"),
            ),
            Err(e) => errors.push(format!("{e:#} (use --node to work on the reachable nodes only)")),
        }
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was changed", errors.join("\n"));
    }
    Ok(hosts)
}

/// The resources of a host: cluster-wide ones first (master), then its node resources.
fn host_resources(d: &Desired, h: &Host, facts: Option<&ClusterFacts>) -> (Vec<Box<dyn Resource>>, usize) {
    let mut v = if h.is_master { d.cluster_resources() } else { Vec::new() };
    let cluster_count = v.len();
    if h.selected {
        v.extend(d.node_resources(&h.name, facts));
    }
    (v, cluster_count)
}

fn fact_probes(d: &Desired, h: &Host) -> Vec<(String, String)> {
    let mut p = if h.is_master { facts::cluster_probes(d) } else { Vec::new() };
    if h.selected {
        p.extend(facts::node_probes(d, &h.name));
    }
    p
}

/// One host's first observation: facts by key, resource observations in resource order.
struct HostObservation {
    facts: HashMap<String, Observed>,
    resources: Vec<Observed>,
}

fn observe_host(d: &Desired, h: &Host) -> Result<HostObservation> {
    let facts = fact_probes(d, h);
    let (resources, _) = host_resources(d, h, None);
    let mut probes = facts.clone();
    probes.extend(resources.iter().map(|r| (r.id(), r.probe())));
    let mut all = observe_deduped(&h.session, &probes)?;
    let res = all.split_off(facts.len());
    Ok(HostObservation { facts: facts.into_iter().map(|(k, _)| k).zip(all).collect(), resources: res })
}

/// A host's resources with their verdicts, and its report under construction.
struct HostState {
    resources: Vec<Box<dyn Resource>>,
    cluster_count: usize,
    statuses: Vec<std::result::Result<Status, String>>,
    report: HostReport,
    /// Indices of resources applied in this run.
    applied: Vec<usize>,
    stopped: bool,
    facts: Option<NodeFacts>,
}

fn result_for(id: String, status: &std::result::Result<Status, String>) -> ResourceResult {
    match status {
        Ok(Status::InState) => ResourceResult::new(id, Outcome::Ok, ""),
        Ok(Status::Change { summary, diff }) => {
            ResourceResult { id, outcome: Outcome::WouldChange, summary: summary.clone(), diff: diff.clone() }
        }
        Err(e) => ResourceResult::new(id, Outcome::Failed(e.clone()), e.clone()),
    }
}

/// Run the phase. `Err` only for problems before any host could be observed (unreachable
/// hosts, unreadable cluster state); everything later is in the report.
pub fn run(loaded: &LoadedInventory, s: &Settings) -> Result<RunReport> {
    let started = Instant::now();
    let d = Desired::new(&loaded.inv, s.opts);
    let selected = selection(loaded, &s.nodes)?;
    let hosts = connect(loaded, &d, &selected)?;
    log::info!("connected to {}", hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "));

    // ---- observe: one round trip per host ------------------------------------------------
    let observed = par(&hosts, |h| observe_host(&d, h));
    let mut obs = Vec::new();
    let mut errors = Vec::new();
    for (h, o) in hosts.iter().zip(observed) {
        match o {
            Ok(o) => obs.push(o),
            Err(e) => errors.push(format!("{}: observing failed: {e:#}", h.name)),
        }
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was changed", errors.join("\n"));
    }
    let master_idx = hosts.iter().position(|h| h.is_master).expect("master connected");
    let cluster = match ClusterFacts::parse(&d, &obs[master_idx].facts) {
        Ok(c) => c,
        Err(e) => bail!("{}: reading the cluster state failed: {e:#}\nnothing was changed", d.master),
    };

    // ---- evaluate ---------------------------------------------------------------------------
    let mut states: Vec<HostState> = hosts
        .iter()
        .zip(&obs)
        .map(|(h, o)| {
            let (resources, cluster_count) = host_resources(&d, h, Some(&cluster));
            let statuses: Vec<_> =
                resources.iter().zip(&o.resources).map(|(r, x)| r.evaluate(x).map_err(|e| format!("{e:#}"))).collect();
            let mut report = HostReport::new(&h.name);
            report.results = resources.iter().zip(&statuses).map(|(r, st)| result_for(r.id(), st)).collect();
            let facts = h.selected.then(|| NodeFacts::parse(&o.facts));
            HostState { resources, cluster_count, statuses, report, applied: Vec::new(), stopped: false, facts }
        })
        .collect();

    // ---- preflight: refusals before any change ----------------------------------------------
    let views = storage_views(&hosts, &states);
    let problems = preflight::check(&d, &cluster, &views);
    let eval_failed = states.iter().any(|st| st.statuses.iter().any(|x| x.is_err()));
    if !problems.is_empty() || eval_failed {
        let m = &mut states[master_idx].report;
        for p in &problems {
            m.results.insert(0, ResourceResult::new("preflight", Outcome::Failed(p.clone()), p.clone()));
        }
        for st in &mut states {
            st.report.notes.push("nothing was changed".into());
        }
        return Ok(finish(&hosts, states, started));
    }

    if s.mode == Mode::Check {
        for (h, st) in hosts.iter().zip(&mut states) {
            if let Some(f) = &st.facts {
                let settled = |id: &str| storage_settled(&d, &cluster, id);
                let exists = |id: &str| cluster.replication.iter().any(|j| j.id == id);
                add_health(&d, &h.name, f, &mut st.report, &settled, &exists);
            }
        }
        return Ok(finish(&hosts, states, started));
    }

    // ---- apply: node resources everywhere, then the cluster objects on the master ----------
    par_each(&hosts, &mut states, |h, st| {
        let range = st.cluster_count..st.resources.len();
        apply_range(&h.session, st, range);
    });
    {
        let st = &mut states[master_idx];
        let range = 0..st.cluster_count;
        apply_range(&hosts[master_idx].session, st, range);
    }
    let master_applied: Vec<String> = {
        let st = &states[master_idx];
        st.applied.iter().filter(|i| **i < st.cluster_count).map(|i| st.resources[*i].id()).collect()
    };
    let storages_changed = master_applied.iter().any(|id| id.starts_with("storage "));
    let refacts = storages_changed || master_applied.iter().any(|id| id.starts_with("replication "));

    // ---- verify: what changed must now observe in state (one round trip per host) -----------
    par_each(&hosts, &mut states, |h, st| verify(&d, h, st, refacts));

    // ---- after storage changes: every storage active on every node it applies to ------------
    if storages_changed {
        wait_active(&d, &hosts, &mut states, s.timeout);
    }
    for (h, st) in hosts.iter().zip(&mut states) {
        if let Some(f) = st.facts.clone() {
            add_health(&d, &h.name, &f, &mut st.report, &|_| true, &|_| true);
        }
    }
    Ok(finish(&hosts, states, started))
}

/// Run `f` for every host with its state, one thread per host.
fn par_each(hosts: &[Host], states: &mut [HostState], f: impl Fn(&Host, &mut HostState) + Sync) {
    std::thread::scope(|scope| {
        let f = &f;
        for (h, st) in hosts.iter().zip(states.iter_mut()) {
            scope.spawn(move || f(h, st));
        }
    });
}

/// Apply the changes among `range`, in order; the first failure stops this host.
fn apply_range(session: &Session, st: &mut HostState, range: std::ops::Range<usize>) {
    for i in range {
        if !matches!(st.statuses[i], Ok(Status::Change { .. })) {
            continue;
        }
        let slot = &mut st.report.results[i];
        if st.stopped {
            slot.outcome = Outcome::Skipped;
            continue;
        }
        log::info!("{}: {}: {}", session.host(), slot.id, slot.summary);
        match st.resources[i].apply(session) {
            Ok(()) => {
                slot.outcome = Outcome::Changed;
                st.applied.push(i);
            }
            Err(e) => {
                slot.outcome = Outcome::Failed(common::secret::redact(&format!("{e:#}")));
                st.stopped = true;
            }
        }
    }
}

/// Re-observe the applied resources (and, after storage/replication changes, the node's
/// facts) in one round trip; anything not in state now is a failure.
fn verify(d: &Desired, h: &Host, st: &mut HostState, refacts: bool) {
    let mut probes: Vec<(String, String)> = st.applied.iter().map(|i| (st.resources[*i].id(), st.resources[*i].probe())).collect();
    let applied = probes.len();
    let fact_probes = if refacts && h.selected { facts::node_probes(d, &h.name) } else { Vec::new() };
    probes.extend(fact_probes.iter().cloned());
    if probes.is_empty() {
        return;
    }
    let observed = match observe_deduped(&h.session, &probes) {
        Ok(o) => o,
        Err(e) => {
            st.report.error = Some(format!("verification after changes failed: {e:#}"));
            return;
        }
    };
    for (k, i) in st.applied.clone().into_iter().enumerate() {
        let verdict = match st.resources[i].evaluate(&observed[k]) {
            Ok(Status::InState) => continue,
            Ok(Status::Change { summary, .. }) => format!("did not converge: still {summary}"),
            Err(e) => format!("did not converge: {e:#}"),
        };
        st.report.results[i].outcome = Outcome::Failed(verdict);
    }
    if !fact_probes.is_empty() {
        let map: HashMap<String, Observed> =
            fact_probes.into_iter().map(|(k, _)| k).zip(observed[applied..].iter().cloned()).collect();
        st.facts = Some(NodeFacts::parse(&map));
    }
}

/// Poll every selected node's storage view until all applicable storages are active or the
/// deadline passes (a fresh NFS storage is mounted by PVE on first use, per node).
fn wait_active(d: &Desired, hosts: &[Host], states: &mut [HostState], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let pending: Vec<bool> = hosts
            .iter()
            .zip(states.iter())
            .map(|(h, st)| st.facts.as_ref().is_some_and(|f| !health::all_active(d, &h.name, f)))
            .collect();
        if !pending.contains(&true) || Instant::now() >= deadline {
            return;
        }
        log::info!("waiting for storages to become active on {}", hosts.iter().zip(&pending).filter(|(_, p)| **p).map(|(h, _)| h.name.as_str()).collect::<Vec<_>>().join(", "));
        std::thread::sleep(Duration::from_millis(500));
        par_each(hosts, states, |h, st| {
            if st.facts.is_none() {
                return;
            }
            let probe = facts::node_probes(d, &h.name).into_iter().take(1).collect::<Vec<_>>();
            if let Ok(o) = observe_deduped(&h.session, &probe) {
                let map: HashMap<String, Observed> = probe.into_iter().map(|(k, _)| k).zip(o).collect();
                let fresh = NodeFacts::parse(&map);
                if let Some(f) = st.facts.as_mut() {
                    f.storage = fresh.storage;
                }
            }
        });
    }
}

/// Storage activity results and replication health notes for one node. `settled(id)`: the
/// storage is defined as wanted; `job_exists(id)`: the replication job is configured (in
/// `--check`, what is still to be created has nothing to report yet).
fn add_health(
    d: &Desired,
    node: &str,
    f: &NodeFacts,
    report: &mut HostReport,
    settled: &dyn Fn(&str) -> bool,
    job_exists: &dyn Fn(&str) -> bool,
) {
    for a in health::storage_activity(d, node, &f.storage) {
        if !settled(&a.storage) {
            continue;
        }
        let id = a.id();
        report.results.push(match a.result {
            Ok(()) => ResourceResult::new(id, Outcome::Ok, ""),
            Err(why) => ResourceResult::new(id, Outcome::Failed(why.clone()), why),
        });
    }
    for (id, h) in health::replication_health(d, node, f) {
        if !job_exists(&id) {
            continue;
        }
        report.notes.push(if h.healthy { h.text } else { format!("WARNING {}", h.text) });
    }
}

/// In `--check`: is this storage already defined (so its activity can be judged)?
fn storage_settled(d: &Desired, cluster: &ClusterFacts, id: &str) -> bool {
    d.nfs.iter().find(|w| w.id == id).is_some_and(|w| {
        !matches!(nfs::plan(w, nfs::find(&cluster.storages, id)), NfsPlan::Add | NfsPlan::Recreate { .. })
    })
}

/// Each node's storage view, where it was read.
fn storage_views(hosts: &[Host], states: &[HostState]) -> BTreeMap<String, Vec<NodeStorage>> {
    hosts
        .iter()
        .zip(states)
        .filter_map(|(h, st)| match st.facts.as_ref().map(|f| &f.storage) {
            Some(Ok(v)) => Some((h.name.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

fn finish(hosts: &[Host], states: Vec<HostState>, started: Instant) -> RunReport {
    let reports = hosts
        .iter()
        .zip(states)
        .map(|(h, st)| {
            let mut r = st.report;
            r.round_trips = h.session.round_trips();
            r.connect_time = h.session.connect_time();
            r.elapsed = started.elapsed();
            r
        })
        .collect();
    RunReport::new(PHASE, reports)
}

/// Is a replication job planned for creation (used by drift reports)?
pub fn replication_pending(d: &Desired, cluster: &ClusterFacts) -> Vec<String> {
    d.replication
        .iter()
        .filter(|w| replication::plan(w, cluster.replication.iter().find(|j| j.id == w.id)) == ReplicationPlan::Create)
        .map(|w| w.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::inventory::parse_str;
    use common::parsers::pvesh::cluster::parse_cluster_status;
    use common::parsers::pvesh::storage::parse_storage_config;
    use std::path::Path;

    fn loaded() -> LoadedInventory {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab-homelab.toml")).unwrap();
        parse_str(&text, Path::new("lab-homelab.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn node_selection_is_checked() {
        let l = loaded();
        assert_eq!(selection(&l, &[]).unwrap(), ["pve-node1", "pve-node2"]);
        assert_eq!(selection(&l, &["pve-node2".into()]).unwrap(), ["pve-node2"]);
        let e = selection(&l, &["pve-node7".into()]).unwrap_err().to_string();
        assert!(e.contains("--node pve-node7") && e.contains("pve-node1, pve-node2"), "{e}");
    }

    #[test]
    fn check_mode_judges_activity_only_for_defined_storages() {
        let d = Desired::new(&loaded().inv, Options::default());
        let cluster = ClusterFacts {
            status: parse_cluster_status("[]").unwrap(),
            storages: parse_storage_config(
                r#"[{"content":"backup","export":"/volume1/backups/proxmox","path":"/mnt/pve/nas-backup","server":"10.231.1.25","storage":"nas-backup","type":"nfs"},
                    {"content":"images,rootdir","export":"/volume1/other","path":"/mnt/pve/nas-data","server":"10.231.1.25","storage":"nas-data","type":"nfs"}]"#,
            )
            .unwrap(),
            guests: BTreeMap::new(),
            scans: BTreeMap::new(),
            replication: Vec::new(),
            record: Default::default(),
        };
        assert!(storage_settled(&d, &cluster, "nas-backup"));
        assert!(!storage_settled(&d, &cluster, "nas-shared"), "still to be added");
        assert!(!storage_settled(&d, &cluster, "nas-data"), "to be recreated");
        assert_eq!(replication_pending(&d, &cluster), ["900-0"]);
    }
}
