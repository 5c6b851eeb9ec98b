//! The whole flow of one form-cluster run.
//!
//! 1. connect to every node (automation user, pinned keys) and the Pi, in parallel;
//! 2. observe each in ONE batched round trip ([`crate::facts`] + the resources' probes);
//! 3. plan ([`crate::plan`]) — refusals stop here, before anything changes;
//! 4. `--check`: report the plan (and, when nothing would change, the verification);
//! 5. apply: stale-node removal → SSH trust + packages → `pvecm create` → joins one at a time →
//!    QDevice (root window on the Pi) → `pvecm updatecerts` → trust again (PVE's own key merges
//!    may have touched the files) → wait until every node verifies.
//!
//! A converged cluster costs one round trip per host and reports zero changes.

use crate::facts::{self, key, NodeFacts, PiFacts};
use crate::plan::{self, Action, Options, Plan};
use crate::progress::{wait_for, Poll, Progress};
use crate::resources;
use crate::verify::{self, Finding, Level};
use crate::{pvecm, window};
use anyhow::{anyhow, bail, Context, Result};
use common::access;
use common::engine::{self, HostReport, Mode, Observed, Outcome, Resource, ResourceResult, RunReport, Status};
use common::inventory::{Inventory, LoadedInventory};
use common::ssh::{quote, Session};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub const PHASE: &str = "form-cluster";

/// How to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub opts: Options,
    /// Upper bound for each wait (quorum after create/join/delnode, votes after QDevice setup).
    pub timeout: Duration,
    pub progress: Progress,
}

/// Open sessions: every node (inventory order) and, if the inventory has one, the Pi.
pub struct Hosts {
    pub nodes: Vec<(String, Session)>,
    pub pi: Option<Session>,
    /// Why the Pi could not be reached (it is only required when the QDevice must be set up).
    pub pi_error: Option<String>,
    /// Noteworthy facts about reaching the hosts (a node reached over link1), by host.
    pub notes: Vec<(String, String)>,
}

impl Hosts {
    pub fn node(&self, name: &str) -> &Session {
        &self.nodes.iter().find(|(n, _)| n == name).expect("connected node").1
    }
}

/// Connect to every node and the Pi in parallel. A node that cannot be reached is an error
/// (nothing has changed yet); the Pi is optional here.
///
/// A node is reached on its link0 (mgmt) address; when that address does not even accept a
/// TCP connection (link0 down — exactly the fault a degraded-link report is about), on its
/// link1 address instead, verified against the same pinned host key (pinned under its name).
pub fn connect(loaded: &LoadedInventory) -> Result<Hosts> {
    let inv = &loaded.inv;
    let mut names: Vec<String> = inv.nodes.iter().map(|n| n.name.clone()).collect();
    if let Some(q) = &inv.qdevice {
        names.push(q.name.clone());
    }
    let results: Vec<(String, Connected)> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| scope.spawn(move || (n.clone(), connect_host(loaded, n))))
            .collect();
        handles.into_iter().map(|h| h.join().expect("connect thread panicked")).collect()
    });
    let mut nodes = Vec::new();
    let mut errors = Vec::new();
    let mut pi = None;
    let mut pi_error = None;
    let mut notes = Vec::new();
    let master = inv.master().name.clone();
    for (name, r) in results {
        let is_pi = inv.qdevice.as_ref().is_some_and(|q| q.name == name);
        match (r, is_pi) {
            (Ok((s, note)), false) => {
                if let Some(n) = note {
                    notes.push((name.clone(), n));
                }
                nodes.push((name, s))
            }
            (Ok((s, _)), true) => pi = Some(s),
            (Err(e), true) => pi_error = Some(format!("{e:#}")),
            (Err(e), false) if name == master => errors.insert(
                0,
                format!("{e:#}\n{name} is the master: nothing was changed on any node (members untouched)"),
            ),
            (Err(e), false) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was changed", errors.join("\n"));
    }
    Ok(Hosts { nodes, pi, pi_error, notes })
}

/// How long a TCP connect to the link0 address may take before link1 is tried.
const LINK0_PROBE: Duration = Duration::from_secs(2);

/// A session and, when it is noteworthy, how it was reached.
type Connected = Result<(Session, Option<String>)>;

fn connect_host(loaded: &LoadedInventory, name: &str) -> Connected {
    let spec = access::host(loaded, name)?;
    let target = access::automation_target(loaded, &spec);
    let Some(node) = loaded.inv.node(name) else {
        return Ok((Session::connect(&target)?, None));
    };
    let reachable = |addr: &str| -> std::result::Result<(), String> {
        use std::net::ToSocketAddrs;
        let sa = (addr, target.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| "no address".to_string())?;
        std::net::TcpStream::connect_timeout(&sa, LINK0_PROBE.min(target.connect_timeout))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    match reachable(&node.link0) {
        Ok(()) => Ok((Session::connect(&target)?, None)),
        Err(why0) => match reachable(&node.link1) {
            Ok(()) => {
                let mut t1 = target.clone();
                t1.address = node.link1.clone();
                let s = Session::connect(&t1)?;
                Ok((
                    s,
                    Some(format!(
                        "reached over link1 ({}:{}): the link0 address {} did not answer ({why0})",
                        node.link1, target.port, node.link0
                    )),
                ))
            }
            Err(why1) => Err(anyhow!(
                "{name}: unreachable — no TCP answer from link0 {}:{} ({why0}) nor link1 {}:{} ({why1}); \
                 check that the host is up and sshd is running",
                node.link0,
                target.port,
                node.link1,
                target.port
            )),
        },
    }
}

/// One observation of everything: facts of every node and of the Pi, plus each node's raw
/// probe output (resource evaluation reads it). One round trip per host.
pub struct Observation {
    pub facts: BTreeMap<String, NodeFacts>,
    pub raw: BTreeMap<String, HashMap<String, Observed>>,
    pub pi: Option<PiFacts>,
    pub pi_error: Option<String>,
}

/// The probes of a node: facts plus every resource's own probe, keyed by resource id.
fn node_batch(inv: &Inventory) -> Vec<(String, String)> {
    let mut probes = facts::node_probes();
    for r in resources::node_resources(inv, &BTreeMap::new(), None, "") {
        probes.push((r.id(), r.probe()));
    }
    probes
}

/// The Pi's probes: facts plus bootstrap-qdevice's "root window closed" resources.
fn pi_batch(inv: &Inventory) -> Vec<(String, String)> {
    let mut probes = facts::pi_probes();
    for r in bootstrap_qdevice::closed_window(inv, None) {
        probes.push((r.id(), r.probe()));
    }
    probes
}

/// Parse the Pi's observation, evaluating the "window closed" resources.
fn pi_facts(inv: &Inventory, name: &str, o: &HashMap<String, Observed>) -> PiFacts {
    let mut f = PiFacts::parse(name, o);
    for r in bootstrap_qdevice::closed_window(inv, None) {
        match o.get(&r.id()).map(|x| r.evaluate(x)) {
            Some(Ok(Status::InState)) => {}
            Some(Ok(Status::Change { summary, .. })) => f.window_drift.push(format!("{}: {summary}", r.id())),
            Some(Err(e)) => f.window_drift.push(format!("{}: {e:#}", r.id())),
            None => {}
        }
    }
    f
}

/// Observe every node and the Pi in parallel.
pub fn observe_cluster(inv: &Inventory, hosts: &Hosts) -> Result<Observation> {
    let batch = node_batch(inv);
    let (node_results, pi_result) = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .nodes
            .iter()
            .map(|(name, s)| {
                let batch = &batch;
                scope.spawn(move || (name.clone(), engine::observe(s, batch)))
            })
            .collect();
        let pi = hosts.pi.as_ref().map(|s| scope.spawn(move || engine::observe(s, &pi_batch(inv))));
        let nodes: Vec<_> = handles.into_iter().map(|h| h.join().expect("observe thread panicked")).collect();
        (nodes, pi.map(|h| h.join().expect("observe thread panicked")))
    });
    let mut obs = Observation { facts: BTreeMap::new(), raw: BTreeMap::new(), pi: None, pi_error: hosts.pi_error.clone() };
    let mut errors = Vec::new();
    for (name, r) in node_results {
        match r.and_then(|o| NodeFacts::parse(&name, &o).map(|f| (o, f))) {
            Ok((o, f)) => {
                obs.facts.insert(name.clone(), f);
                obs.raw.insert(name, o);
            }
            Err(e) => errors.push(format!("{name}: observation failed: {e:#}")),
        }
    }
    if let (Some(q), Some(r)) = (&inv.qdevice, pi_result) {
        match r {
            Ok(o) => obs.pi = Some(pi_facts(inv, &q.name, &o)),
            Err(e) => obs.pi_error = Some(format!("{}: observation failed: {e:#}", q.name)),
        }
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was changed", errors.join("\n"));
    }
    Ok(obs)
}

/// Per-host reports, in inventory order, the Pi last.
struct Reports {
    order: Vec<String>,
    by_host: BTreeMap<String, HostReport>,
}

impl Reports {
    fn new(inv: &Inventory) -> Self {
        let mut order: Vec<String> = inv.nodes.iter().map(|n| n.name.clone()).collect();
        if let Some(q) = &inv.qdevice {
            order.push(q.name.clone());
        }
        let by_host = order.iter().map(|h| (h.clone(), HostReport::new(h.clone()))).collect();
        Reports { order, by_host }
    }
    fn get(&mut self, host: &str) -> &mut HostReport {
        self.by_host.entry(host.to_string()).or_insert_with(|| HostReport::new(host))
    }
    fn push(&mut self, host: &str, id: impl Into<String>, outcome: Outcome, summary: impl Into<String>) {
        self.get(host).push(id, outcome, summary);
    }
    fn finish(mut self, hosts: &Hosts, started: Instant) -> RunReport {
        let mut out = Vec::new();
        for h in &self.order {
            let mut r = self.by_host.remove(h).unwrap_or_else(|| HostReport::new(h.clone()));
            let session = hosts.nodes.iter().find(|(n, _)| n == h).map(|(_, s)| s).or_else(|| {
                hosts.pi.as_ref().filter(|s| s.host() == h)
            });
            if let Some(s) = session {
                r.round_trips = s.round_trips();
                r.connect_time = s.connect_time();
            }
            r.elapsed = started.elapsed();
            out.push(r);
        }
        RunReport::new(PHASE, out)
    }
}

/// Add verification findings to the reports (Degraded → a note, or a failure with --strict),
/// and one summary note on the master when everything verified.
fn report_findings(reports: &mut Reports, master: &str, findings: &[Finding], strict: bool) {
    if !findings.is_empty() && verify::passed(findings, strict) {
        let q = findings.iter().find(|f| f.host == master && f.id == "verify quorum").map(|f| f.message.as_str());
        let degraded = findings.iter().any(|f| f.level == Level::Degraded);
        reports.get(master).notes.push(format!(
            "verified on every node: {}{}",
            q.unwrap_or("quorate"),
            if degraded { "; a corosync link is degraded (see warnings)" } else { "; both links connected" }
        ));
    }
    for f in findings {
        match f.level {
            Level::Ok => reports.push(&f.host, &f.id, Outcome::Ok, &f.message),
            Level::Degraded if !strict => {
                reports.push(&f.host, &f.id, Outcome::Ok, &f.message);
                reports.get(&f.host).notes.push(format!(
                    "WARNING {}: {} (a failure with --strict)",
                    f.id.trim_start_matches("verify "),
                    f.message
                ));
            }
            _ => reports.push(&f.host, &f.id, Outcome::Failed(f.message.clone()), ""),
        }
    }
}

/// Evaluate resources against an observation (no round trip).
fn evaluate_all(
    resources: &[Box<dyn Resource>],
    raw: &HashMap<String, Observed>,
) -> Vec<(String, Result<Status>)> {
    resources
        .iter()
        .map(|r| {
            let id = r.id();
            let st = match raw.get(&id) {
                Some(o) => r.evaluate(o),
                None => Err(anyhow!("not observed")),
            };
            (id, st)
        })
        .collect()
}

/// Run form-cluster. `Err` = refused before anything changed (unreachable node, plan refusal).
pub fn run(loaded: &LoadedInventory, settings: &Settings) -> Result<RunReport> {
    let started = Instant::now();
    let inv = &loaded.inv;
    plan::check_inventory(inv).map_err(|e| anyhow!("{}", e.join("\n")))?;
    let hosts = connect(loaded)?;
    let obs = observe_cluster(inv, &hosts)?;
    let plan = plan::plan(inv, &obs.facts, obs.pi.as_ref(), &settings.opts)
        .map_err(|e| anyhow!("{}\nnothing was changed", e.join("\n")))?;

    let mut reports = Reports::new(inv);
    for (h, n) in hosts.notes.iter().chain(&plan.notes) {
        reports.get(h).notes.push(n.clone());
    }
    if let (Some(q), Some(e)) = (&inv.qdevice, &obs.pi_error) {
        // Not a refusal (the cluster steps may not need it), but a failure of this run.
        reports.get(&q.name).error = Some(format!("not reachable, not verified: {e}"));
    }

    match settings.mode {
        Mode::Check => check(inv, &obs, &plan, settings, &mut reports),
        Mode::Apply => apply(loaded, &hosts, obs, &plan, settings, &mut reports)?,
    }
    Ok(reports.finish(&hosts, started))
}

/// `--check`: what would change; the verification only when nothing would.
fn check(inv: &Inventory, obs: &Observation, plan: &Plan, settings: &Settings, reports: &mut Reports) {
    let mut pending = !plan.actions.is_empty();
    for (name, raw) in &obs.raw {
        let res = resources::node_resources(inv, &obs.facts, obs.pi.as_ref(), name);
        for (id, st) in evaluate_all(&res, raw) {
            let r = match st {
                Ok(Status::InState) => ResourceResult::new(id, Outcome::Ok, ""),
                Ok(Status::Change { summary, diff }) => {
                    pending = true;
                    ResourceResult { id, outcome: Outcome::WouldChange, summary, diff }
                }
                Err(e) => ResourceResult::new(id, Outcome::Failed(format!("{e:#}")), ""),
            };
            reports.get(name).results.push(r);
        }
    }
    if let (Some(q), true) = (&inv.qdevice, window_left_open(obs.pi.as_ref())) {
        pending = true;
        let what = obs.pi.as_ref().map(|p| p.window_drift.join("; ")).unwrap_or_default();
        reports.push(&q.name, LEFT_OPEN, Outcome::WouldChange, what);
    }
    for a in &plan.actions {
        reports.push(a.host(), a.id(), Outcome::WouldChange, a.summary());
    }
    for (h, why) in &plan.refusals {
        reports.push(h, "refused", Outcome::Failed(why.clone()), "");
    }
    if pending {
        let master = &inv.master().name;
        reports.get(master).notes.push("the cluster is verified after the changes are applied".into());
    } else {
        report_findings(reports, &inv.master().name, &verify::verify(inv, &obs.facts, obs.pi.as_ref()), settings.opts.strict);
    }
}

/// Apply the plan; failures go into the reports (the run stops at the first failed step).
fn apply(
    loaded: &LoadedInventory,
    hosts: &Hosts,
    mut obs: Observation,
    plan: &Plan,
    settings: &Settings,
    reports: &mut Reports,
) -> Result<()> {
    let inv = &loaded.inv;
    let p = &settings.progress;
    let mut changed_cluster = false;

    // 0. A root window left open on the Pi (a run killed during `qdevice setup`): close it
    //    first. Nothing may leave root SSH open outside that step (DESIGN.md security rule).
    if !close_left_open_window(inv, hosts, &mut obs, settings, reports) {
        return Ok(());
    }

    // 1. Steps that must precede the trust: stale node out, its host keys gone.
    for a in plan.actions.iter().filter(|a| a.before_trust()) {
        if !run_action(inv, hosts, &obs, a, settings, reports) {
            return Ok(());
        }
        changed_cluster = true;
    }

    // 2. Root key pairs (their public halves are needed for the trust lines).
    let missing: Vec<&String> = obs
        .facts
        .values()
        .filter(|f| f.root_ed25519.is_none() || f.root_rsa.is_none())
        .map(|f| &f.name)
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
        p.step(&names.join(", "), "generating root key pairs (ed25519, and the RSA key pvecm uses)");
        let keyres: Vec<Box<dyn Resource>> = vec![
            Box::new(resources::RootKeyPair { kind: resources::KeyKind::Ed25519 }),
            Box::new(resources::RootKeyPair { kind: resources::KeyKind::Rsa }),
        ];
        let got: Vec<KeygenResult> = std::thread::scope(|scope| {
            let hs: Vec<_> = names
                .iter()
                .map(|n| {
                    let s = hosts.node(n);
                    let keyres = &keyres;
                    scope.spawn(move || {
                        let rep = engine::converge(s, keyres, Mode::Apply);
                        let probes: Vec<(String, String)> =
                            keyres.iter().map(|r| (r.id(), r.probe())).collect();
                        (n.clone(), rep, engine::observe(s, &probes))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("keygen thread panicked")).collect()
        });
        for (name, rep, o) in got {
            let failed = rep.has_failures();
            merge_results(reports.get(&name), rep);
            if failed {
                return Ok(());
            }
            let o = o.with_context(|| format!("{name}: reading the new root keys"))?;
            let f = obs.facts.get_mut(&name).expect("observed");
            let ed = o.get(&keyres[0].id()).map(|x| x.stdout.trim().to_string()).filter(|s| !s.is_empty());
            let rsa = o.get(&keyres[1].id()).map(|x| x.stdout.trim().to_string()).filter(|s| !s.is_empty());
            f.root_ed25519 = ed.or(f.root_ed25519.take());
            f.root_rsa = rsa.or(f.root_rsa.take());
            let raw = obs.raw.get_mut(&name).expect("observed");
            for (k, v) in o {
                raw.insert(k, v);
            }
        }
    }

    // 3. Trust + packages on every node.
    if !converge_trust(inv, hosts, &obs, settings, reports, "SSH trust between the nodes, corosync-qdevice") {
        return Ok(());
    }

    // 4. Cluster steps, in order.
    for a in plan.actions.iter().filter(|a| !a.before_trust()) {
        if !run_action(inv, hosts, &obs, a, settings, reports) {
            return Ok(());
        }
        changed_cluster = true;
    }
    for (h, why) in &plan.refusals {
        reports.push(h, "refused", Outcome::Failed(why.clone()), "");
    }

    // 5. After cluster changes: PVE merged keys into the cluster-wide files — converge the
    //    trust once more, then wait until every node verifies.
    if changed_cluster {
        let fresh = observe_cluster(inv, hosts)?;
        let mut merged = obs;
        merged.raw = fresh.raw;
        for (n, f) in fresh.facts {
            let keep = merged.facts.remove(&n);
            let mut f = f;
            if let Some(k) = keep {
                f.root_ed25519 = f.root_ed25519.or(k.root_ed25519);
                f.root_rsa = f.root_rsa.or(k.root_rsa);
            }
            merged.facts.insert(n, f);
        }
        merged.pi = fresh.pi.or(merged.pi);
        if !converge_trust(inv, hosts, &merged, settings, reports, "SSH trust after PVE's key merges") {
            return Ok(());
        }
        let findings = wait_verified(inv, hosts, settings)?;
        report_findings(reports, &inv.master().name, &findings, settings.opts.strict);
    } else {
        report_findings(reports, &inv.master().name, &verify::verify(inv, &obs.facts, obs.pi.as_ref()), settings.opts.strict);
    }
    Ok(())
}

/// Whether the observed Pi still has (part of) a root window open.
fn window_left_open(pi: Option<&facts::PiFacts>) -> bool {
    pi.is_some_and(|p| p.open_window_lines > 0 || !p.window_drift.is_empty())
}

const LEFT_OPEN: &str = "close root window left open (an interrupted run)";

/// Close a window found open before any step (the same close as `bootstrap-qdevice harden`).
/// `false` when closing failed (reported on the Pi; the run stops).
fn close_left_open_window(inv: &Inventory, hosts: &Hosts, obs: &mut Observation, settings: &Settings, reports: &mut Reports) -> bool {
    let (Some(q), Some(pi)) = (&inv.qdevice, &hosts.pi) else { return true };
    if !window_left_open(obs.pi.as_ref()) {
        return true;
    }
    settings.progress.step(&q.name, "closing a root window left open by an interrupted run");
    match window::close_now(pi, inv) {
        Ok(rep) => {
            record_window(reports.get(&q.name), LEFT_OPEN, rep);
            if let Some(f) = obs.pi.as_mut() {
                f.open_window_lines = 0;
                f.window_drift.clear();
            }
            true
        }
        Err(e) => {
            reports.push(&q.name, LEFT_OPEN, Outcome::Failed(format!("{e:#} — run `bootstrap-qdevice harden`")), "");
            false
        }
    }
}

/// The window's own resource results on the Pi, prefixed (`open root window: file …`).
fn record_window(into: &mut HostReport, what: &str, rep: HostReport) {
    for mut res in rep.results.into_iter().filter(|r| r.outcome != Outcome::Ok) {
        res.id = format!("{what}: {}", res.id);
        res.diff = None; // the full key lines are noise here; the summary says what changed
        into.results.push(res);
    }
    into.notes.extend(rep.notes);
}

/// A node's key generation: its report and the new public keys read back.
type KeygenResult = (String, HostReport, Result<HashMap<String, Observed>>);

/// Move a converge report's results (not its counters: the session counts round trips).
fn merge_results(into: &mut HostReport, rep: HostReport) {
    into.results.extend(rep.results);
    into.notes.extend(rep.notes);
    if let Some(e) = rep.error {
        into.error = Some(match into.error.take() {
            Some(a) => format!("{a}; {e}"),
            None => e,
        });
    }
}

/// Evaluate the node resources against `obs`; converge (engine: re-observe, apply, verify) only
/// on nodes where something differs. `false` if anything failed.
fn converge_trust(
    inv: &Inventory,
    hosts: &Hosts,
    obs: &Observation,
    settings: &Settings,
    reports: &mut Reports,
    what: &str,
) -> bool {
    let res_of = |name: &str| resources::node_resources(inv, &obs.facts, obs.pi.as_ref(), name);
    let mut todo: Vec<(String, Vec<Box<dyn Resource>>)> = Vec::new();
    for (name, raw) in &obs.raw {
        let res = res_of(name);
        let ev = evaluate_all(&res, raw);
        if ev.iter().any(|(_, s)| !matches!(s, Ok(Status::InState))) {
            todo.push((name.clone(), res));
        } else {
            for (id, _) in ev {
                add_result(reports.get(name), ResourceResult::new(id, Outcome::Ok, ""));
            }
        }
    }
    if todo.is_empty() {
        return true;
    }
    let names: Vec<&str> = todo.iter().map(|(n, _)| n.as_str()).collect();
    settings.progress.step(&names.join(", "), what);
    let got: Vec<(String, HostReport)> = std::thread::scope(|scope| {
        let hs: Vec<_> = todo
            .iter()
            .map(|(n, res)| {
                let s = hosts.node(n);
                scope.spawn(move || (n.clone(), engine::converge(s, res, Mode::Apply)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("converge thread panicked")).collect()
    });
    let mut ok = true;
    for (name, rep) in got {
        ok &= !rep.has_failures();
        let r = reports.get(&name);
        for new in rep.results {
            add_result(r, new);
        }
        r.notes.extend(rep.notes);
        if let Some(e) = rep.error {
            r.error = Some(e);
        }
    }
    ok
}

/// One line per resource: an `ok` is replaced by a later change; a later `ok` adds nothing;
/// a second change (the trust pass after PVE's merges) is listed too.
fn add_result(r: &mut HostReport, new: ResourceResult) {
    match r.results.iter_mut().find(|x| x.id == new.id) {
        Some(old) if old.outcome == Outcome::Ok && new.outcome != Outcome::Ok => *old = new,
        Some(_) if new.outcome == Outcome::Ok => {}
        _ => r.results.push(new),
    }
}

/// Run one planned step. `false` = it failed (reported); the run stops.
fn run_action(inv: &Inventory, hosts: &Hosts, obs: &Observation, a: &Action, settings: &Settings, reports: &mut Reports) -> bool {
    let p = &settings.progress;
    p.step(a.host(), &a.summary());
    let started = Instant::now();
    let r = match a {
        Action::DelNode { on, stale, .. } => delnode(inv, hosts.node(on), stale, settings),
        Action::CleanHostKeys { on, stale, names, cluster_files } => {
            clean_host_keys(hosts.node(on), stale, names, *cluster_files)
        }
        Action::CleanLeftovers { on, files } => clean_leftovers(hosts.node(on), files),
        Action::Create { on, command } => create(inv, hosts.node(on), command, settings),
        Action::Join { on, command, .. } => join(inv, hosts, on, command, settings),
        Action::QDeviceRemove { on, .. } => qdevice_remove(hosts.node(on), settings),
        Action::QDeviceSetup { on, command, .. } => {
            let pi_name = inv.qdevice.as_ref().map(|q| q.name.clone()).unwrap_or_default();
            qdevice_setup(inv, hosts, obs, on, command, settings, reports.get(&pi_name))
        }
        Action::UpdateCerts { on } => {
            let s = hosts.node(on);
            s.exec_root(pvecm::UPDATECERTS, None)
                .map_err(anyhow::Error::from)
                .and_then(|o| s.check(pvecm::UPDATECERTS, o).map(|_| "certificates and merged SSH keys regenerated".into()))
        }
    };
    match r {
        Ok(done) => {
            let took = started.elapsed().as_secs_f64();
            let summary = if done.is_empty() {
                format!("{} ({took:.1} s)", a.summary())
            } else {
                format!("{} — {done} ({took:.1} s)", a.summary())
            };
            reports.push(a.host(), a.id(), Outcome::Changed, summary);
            true
        }
        Err(e) => {
            let why = format!("{e:#}");
            p.detail(&format!("FAILED: {why}"));
            reports.push(a.host(), a.id(), Outcome::Failed(why), a.summary());
            false
        }
    }
}

/// Cluster state of one node: `/etc/pve/corosync.conf`, `pvecm status`, `corosync-cfgtool -s`,
/// `corosync-qdevice-tool -s` (one round trip).
fn cluster_state(s: &Session) -> Result<NodeFacts> {
    let probes: Vec<(String, String)> = facts::node_probes()
        .into_iter()
        .filter(|(k, _)| [key::PVE_CONF, key::STATUS, key::LINKS, key::QDEVICE].contains(&k.as_str()))
        .collect();
    let o = engine::observe(s, &probes)?;
    NodeFacts::parse(s.host(), &o)
}

/// Wait until `node` is quorate (and, if given, sees `members` nodes in its membership).
fn wait_quorate(s: &Session, members: Option<u32>, settings: &Settings) -> Result<NodeFacts> {
    let what = match members {
        Some(n) => format!("{} quorate with {n} node(s)", s.host()),
        None => format!("{} quorate", s.host()),
    };
    wait_for(&settings.progress, &what, settings.timeout, || {
        let f = cluster_state(s)?;
        let Some(st) = &f.status else {
            return Ok(Poll::Pending(f.status_error.clone().unwrap_or_else(|| "no pvecm status yet".into())));
        };
        let q = &st.quorum;
        let state = format!(
            "quorate {}, Nodes {}, Total votes {} of expected {}",
            if q.quorate { "yes" } else { "no" },
            q.nodes,
            q.total_votes,
            q.expected_votes
        );
        if q.quorate && members.is_none_or(|n| q.nodes >= n) {
            Ok(Poll::Done(f))
        } else {
            Ok(Poll::Pending(state))
        }
    })
}

fn create(inv: &Inventory, s: &Session, command: &str, settings: &Settings) -> Result<String> {
    let out = s.exec_root(command, None)?;
    // A worker: exit 0 even when the task failed (pve-cli.md §1.2). Post-condition decides.
    let f = cluster_state(s)?;
    if f.cluster_name() != Some(inv.cluster.name.as_str()) {
        bail!(
            "`{command}` did not create the cluster (no /etc/pve/corosync.conf naming '{}' afterwards; exit {}):\n{}",
            inv.cluster.name,
            out.status,
            pvecm::task_error(&out.stdout, &out.stderr)
        );
    }
    let f = wait_quorate(s, None, settings)?;
    Ok(format!("cluster '{}' created, quorate ({})", inv.cluster.name, votes_text(&f)))
}

fn votes_text(f: &NodeFacts) -> String {
    f.status
        .as_ref()
        .map(|s| format!("{} of {} votes", s.quorum.total_votes, s.quorum.expected_votes))
        .unwrap_or_default()
}

/// `pvesh get /cluster/config/nodes` lists `node`? (pve-cli.md §2.11)
fn pvesh_lists(json: &str, node: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|a| a.iter().any(|e| e.get("name").and_then(|n| n.as_str()) == Some(node)))
}

fn join(inv: &Inventory, hosts: &Hosts, name: &str, command: &str, settings: &Settings) -> Result<String> {
    let s = hosts.node(name);
    let out = s.exec_root(command, None)?;
    let said_ok = pvecm::join_succeeded(&out.stdout, name);
    // Post-conditions on the joined node (one round trip): its /etc/pve/corosync.conf lists it
    // and the cluster API agrees (pve-cli.md §9 "node B joined").
    let probes = vec![
        (key::PVE_CONF.to_string(), format!("cat {}", facts::PVE_COROSYNC_CONF)),
        ("api".to_string(), "pvesh get /cluster/config/nodes --output-format json".to_string()),
    ];
    let o = engine::observe(s, &probes)?;
    let in_conf = o
        .get(key::PVE_CONF)
        .filter(|x| x.status == 0)
        .and_then(|x| pve_formats::corosync::CorosyncConf::parse(&x.stdout).ok())
        .is_some_and(|c| c.node(name).ok().flatten().is_some());
    let in_api = o.get("api").is_some_and(|x| x.status == 0 && pvesh_lists(&x.stdout, name));
    if !(said_ok && in_conf && in_api) {
        let mut missing = Vec::new();
        if !said_ok {
            missing.push(format!("no \"successfully added node '{name}' to cluster.\" line"));
        }
        if !in_conf {
            missing.push(format!("{name} not in its /etc/pve/corosync.conf"));
        }
        if !in_api {
            missing.push(format!("{name} not in /cluster/config/nodes"));
        }
        bail!(
            "`pvecm add` exited {} but the join did not happen ({}). The task said:\n{}",
            out.status,
            missing.join("; "),
            pvecm::task_error(&out.stdout, &out.stderr)
        );
    }
    let f = wait_quorate(s, Some(2), settings)?;
    let m = inv.master();
    wait_quorate(hosts.node(&m.name), Some(2), settings)?;
    Ok(format!("joined, quorate ({})", votes_text(&f)))
}

fn delnode(inv: &Inventory, master: &Session, stale: &str, settings: &Settings) -> Result<String> {
    let cmd = pvecm::delnode(stale);
    let out = master.exec_root(&cmd, None)?;
    let out = master.check(&cmd, out)?;
    let f = wait_quorate(master, None, settings)?;
    if f.lists_node(stale) {
        bail!("`{cmd}` succeeded but {stale} is still in corosync.conf:\n{}", out.stdout.trim());
    }
    let _ = inv;
    Ok(format!("removed; {} still quorate ({})", master.host(), votes_text(&f)))
}

fn clean_host_keys(s: &Session, stale: &str, names: &[String], cluster_files: bool) -> Result<String> {
    let out = s.script_root(&crate::cleanup::stale_host_keys_script(stale, names, cluster_files, ""))?;
    let out = s.check("cleaning stale host keys", out)?;
    let done: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    Ok(if done.is_empty() { "nothing to clean".into() } else { done.join(", ") })
}

fn clean_leftovers(s: &Session, files: &[String]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote(f)).collect();
    let script = format!(
        "systemctl stop corosync >/dev/null 2>&1 || true\nrm -f {}\necho removed\n",
        list.join(" ")
    );
    let out = s.script_root(&script)?;
    s.check("removing leftovers of an interrupted join", out)?;
    Ok(format!("removed {}", files.join(", ")))
}

fn qdevice_remove(master: &Session, settings: &Settings) -> Result<String> {
    let out = master.exec_root(pvecm::QDEVICE_REMOVE, None)?;
    master.check(pvecm::QDEVICE_REMOVE, out)?;
    let f = wait_quorate(master, None, settings)?;
    Ok(format!("removed; still quorate ({})", votes_text(&f)))
}

fn qdevice_setup(
    inv: &Inventory,
    hosts: &Hosts,
    obs: &Observation,
    on: &str,
    command: &str,
    settings: &Settings,
    pi_report: &mut HostReport,
) -> Result<String> {
    let q = inv.qdevice.as_ref().context("no [qdevice] in the inventory")?;
    let pi = hosts
        .pi
        .as_ref()
        .ok_or_else(|| anyhow!("{}: not connected: {}", q.name, hosts.pi_error.as_deref().unwrap_or("?")))?;
    let keys: Vec<String> = resources::root_keys(inv, &obs.facts)
        .iter()
        .flat_map(|k| k.lines().into_iter().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let from: Vec<String> = inv.nodes.iter().flat_map(|n| [n.link0.clone(), n.link1.clone()]).collect();
    let master = hosts.node(on);
    settings.progress.detail(&format!(
        "opening the root window on {} for {} node key(s) from {}",
        q.name,
        keys.len(),
        from.join(",")
    ));
    let w = window::RootWindow::open(pi, inv, &keys, &from)?;
    record_window(pi_report, "open root window", w.opened.clone());
    let out = master.exec_root(command, None);
    settings.progress.detail(&format!("closing the root window on {}", q.name));
    let closed = w.close().map(|r| record_window(pi_report, "close root window", r));
    let out = out?;
    if out.status != 0 {
        let tail = out.tail(25);
        let closed_note = match &closed {
            Ok(()) => "root window closed".to_string(),
            Err(e) => format!("closing the root window FAILED: {e:#} — run `bootstrap-qdevice harden`"),
        };
        bail!("`{command}` failed (exit {}); {closed_note}:\n{tail}", out.status);
    }
    closed.with_context(|| format!("{}: closing the temporary root window — run `bootstrap-qdevice harden`", q.name))?;
    let expected = verify::expected_votes(inv);
    let f = wait_for(&settings.progress, &format!("{on}: {expected} votes with the QDevice"), settings.timeout, || {
        let f = cluster_state(master)?;
        match &f.status {
            Some(s) if s.quorum.total_votes == expected && s.quorum.quorate => Ok(Poll::Done(f)),
            Some(s) => Ok(Poll::Pending(format!(
                "Total votes {} of expected {}",
                s.quorum.total_votes, s.quorum.expected_votes
            ))),
            None => Ok(Poll::Pending(f.status_error.unwrap_or_default())),
        }
    })
    .with_context(|| {
        format!(
            "{on}: the QDevice was set up but did not bring its vote: is corosync-qnetd running on {} \
             and TCP 5403 reachable from the nodes? (`corosync-qdevice-tool -s` on {on} says why; \
             a re-run verifies again)",
            q.name
        )
    })?;
    Ok(format!("{} ({}), root window closed", votes_text(&f), pvecm::expected_algorithm(inv.nodes.len())))
}

/// Poll every node (and the Pi) until verification passes; then up to a short grace for
/// degraded links to come back. Returns the last findings either way (failures included).
fn wait_verified(inv: &Inventory, hosts: &Hosts, settings: &Settings) -> Result<Vec<Finding>> {
    let snapshot = || -> Result<Vec<Finding>> {
        let (nodes, pi) = std::thread::scope(|scope| {
            let hs: Vec<_> =
                hosts.nodes.iter().map(|(n, s)| scope.spawn(move || (n.clone(), cluster_state(s)))).collect();
            let pi = hosts.pi.as_ref().map(|s| scope.spawn(move || engine::observe(s, &pi_batch(inv))));
            let nodes: Vec<_> = hs.into_iter().map(|h| h.join().expect("verify thread panicked")).collect();
            (nodes, pi.map(|h| h.join().expect("verify thread panicked")))
        });
        let mut facts = BTreeMap::new();
        for (n, f) in nodes {
            facts.insert(n, f?);
        }
        let pi = match (&inv.qdevice, pi) {
            (Some(q), Some(Ok(o))) => Some(pi_facts(inv, &q.name, &o)),
            _ => None,
        };
        Ok(verify::verify(inv, &facts, pi.as_ref()))
    };
    let describe = |v: &[Finding]| {
        v.iter()
            .filter(|f| f.level != Level::Ok)
            .map(|f| format!("{} {}: {}", f.host, f.id.trim_start_matches("verify "), f.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut last: Vec<Finding> = Vec::new();
    let hard = wait_for(&settings.progress, "every node to verify", settings.timeout, || {
        let v = snapshot()?;
        let ok = verify::passed(&v, false);
        let d = describe(&v);
        last = v.clone();
        Ok(if ok { Poll::Done(v) } else { Poll::Pending(d) })
    });
    let v = match hard {
        Ok(v) => v,
        Err(e) => {
            settings.progress.detail(&format!("{e:#}"));
            return Ok(last);
        }
    };
    if verify::passed(&v, true) {
        return Ok(v);
    }
    let grace = Duration::from_secs(15).min(settings.timeout);
    match wait_for(&settings.progress, "both corosync links on every node", grace, || {
        let v = snapshot()?;
        let d = describe(&v);
        last = v.clone();
        Ok(if verify::passed(&v, true) { Poll::Done(v) } else { Poll::Pending(d) })
    }) {
        Ok(v) => Ok(v),
        Err(_) => Ok(last),
    }
}

/// Drift check for drift-check: observe and verify, read-only. (`RunReport` like `--check`.)
pub fn drift(loaded: &LoadedInventory, strict: bool) -> Result<RunReport> {
    let settings = Settings {
        mode: Mode::Check,
        opts: Options { strict, ..Default::default() },
        timeout: Duration::from_secs(60),
        progress: Progress::off(),
    };
    run(loaded, &settings)
}
