//! One drift-check run: connect to every host in parallel as the automation user, observe each
//! in ONE batched round trip (every phase's probes together), then evaluate everything.
//!
//! Nothing here can change a host: the only remote command is the batched observation (the
//! engine's read-only probes); no resource's `apply` is ever called, and the engine's
//! `converge` is not used at all.

use crate::batch::{Batch, HostObservation};
use crate::model::{HostResult, HostRole, Report};
use crate::phases::{Context, PhaseSet};
use anyhow::Result;
use common::access::{automation_target, HostKind, HostSpec};
use common::engine::{self, HostReport};
use common::inventory::LoadedInventory;
use common::ssh::{Session, SshError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub phases: PhaseSet,
    /// `--node`: only these hosts (nodes or the QDevice); empty = all.
    pub hosts: Vec<String>,
}

/// What one host's thread brings back besides the engine's [`HostReport`].
struct Observation {
    obs: HostObservation,
    address: String,
    probes: usize,
    distinct: usize,
}

/// Connect as the automation user. A node whose link0 address does not answer at all is
/// tried on its link1 address (same pinned host key, pinned under the node's name): a link0
/// fault is then reported as degraded health, not as "could not check".
fn connect(loaded: &LoadedInventory, host: &HostSpec) -> Result<(Session, Option<String>), String> {
    let target = automation_target(loaded, host);
    let first = match Session::connect(&target) {
        Ok(s) => return Ok((s, None)),
        Err(e) => e,
    };
    let link1 = loaded.inv.node(&host.name).map(|n| n.link1.clone()).filter(|a| *a != target.address);
    match (&first, link1) {
        (SshError::Refused { .. } | SshError::Timeout { .. } | SshError::Unreachable { .. }, Some(addr)) => {
            let mut t1 = target.clone();
            t1.address = addr.clone();
            match Session::connect(&t1) {
                Ok(s) => Ok((s, Some(format!("reached over link1 ({addr}): link0 did not answer ({first})")))),
                Err(e1) => Err(format!("unreachable: {first}; and over link1: {e1}")),
            }
        }
        _ => Err(format!("{first}")),
    }
}

/// Run the checks; `Err` only for problems before any host is contacted (bad `--node`, keys).
pub fn run(loaded: &LoadedInventory, opts: &Options) -> Result<Report> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let ctx = Context::new(loaded, opts.phases, &opts.hosts)?;
    let mut plans: Vec<(HostSpec, Batch)> = Vec::new();
    for h in &ctx.hosts {
        let b = ctx.batch(h)?;
        // A host no selected phase looks at (the Pi with `--phase configure-storage`) is
        // not contacted at all.
        if !b.is_empty() {
            plans.push((h.clone(), b));
        }
    }

    let observed: Mutex<BTreeMap<String, Observation>> = Mutex::new(BTreeMap::new());
    let reports: Vec<HostReport> = engine::for_each_host(&plans, |(host, batch)| {
        let t0 = Instant::now();
        let mut report = HostReport::new(&host.name);
        let (session, note) = match connect(loaded, host) {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(common::secret::redact(&e));
                report.elapsed = t0.elapsed();
                return report;
            }
        };
        report.notes.extend(note);
        report.connect_time = session.connect_time();
        match batch.observe(&session) {
            Ok(obs) => {
                let (unique, _) = batch.unique();
                let o = Observation { obs, address: session.target().address.clone(), probes: batch.len(), distinct: unique.len() };
                observed.lock().unwrap_or_else(|p| p.into_inner()).insert(host.name.clone(), o);
            }
            Err(e) => report.error = Some(format!("observation failed: {e:#}")),
        }
        // The connection (handshake + authentication) is a round trip of its own.
        report.round_trips = session.round_trips() + 1;
        report.elapsed = t0.elapsed();
        report
    });
    let observed = observed.into_inner().unwrap_or_else(|p| p.into_inner());

    let mut results: Vec<HostResult> = Vec::new();
    for ((host, _), rep) in plans.iter().zip(reports) {
        let role = if host.kind == HostKind::Node { HostRole::Node } else { HostRole::QDevice };
        let mut r = HostResult::new(&host.name, role, &host.address);
        r.phases = ctx.phases_for(host);
        r.round_trips = rep.round_trips;
        r.connect_time = rep.connect_time;
        r.elapsed = rep.elapsed;
        r.notes = rep.notes;
        if let Some(o) = observed.get(&host.name) {
            r.reachable = true;
            r.address = o.address.clone();
            r.probes = (o.probes, o.distinct);
        } else {
            r.reachable = rep.round_trips > 0;
        }
        if let Some(e) = rep.error {
            r.errors.push(e);
        }
        results.push(r);
    }
    let obs: BTreeMap<String, HostObservation> = observed.into_iter().map(|(k, v)| (k, v.obs)).collect();
    ctx.evaluate(&obs, &mut results);
    Ok(Report { hosts: results, started: started_at, elapsed: started.elapsed(), notes: Vec::new() })
}

/// The batched script that would be sent to `host` (`--print-script`): for measuring the SSH
/// floor with exactly drift-check's work, and for debugging.
pub fn script_for(loaded: &LoadedInventory, opts: &Options, host: &str) -> Result<String> {
    let ctx = Context::new(loaded, opts.phases, &[host.to_string()])?;
    let h = ctx.hosts.first().expect("Context::new checked the name");
    Ok(ctx.batch(h)?.script())
}
