//! observe → evaluate → (report | apply → handlers → verify) for one host's resources.

use super::observe::observe_list;
use super::report::{HostReport, Outcome, ResourceResult};
use super::{Mode, Resource, Status};
use crate::ssh::Session;
use std::collections::BTreeSet;
use std::time::Instant;

/// Bring `resources` into state on one host (or, in [`Mode::Check`], report what would
/// change). Round trips: 1 observation; in Apply mode + each apply + 1 verification of the
/// changed resources. A converged host therefore costs exactly one round trip.
///
/// Order matters: resources are applied in the order given, and the first failure stops
/// the host (later resources are reported `skipped`). A resource whose [`Resource::notified_by`]
/// names a resource changed earlier in this run is a handler: its [`Resource::on_notify`] runs.
pub fn converge(session: &Session, resources: &[Box<dyn Resource>], mode: Mode) -> HostReport {
    let started = Instant::now();
    let trips_before = session.round_trips();
    let mut report = HostReport::new(session.host());
    run(session, resources, mode, &mut report);
    report.round_trips = session.round_trips() - trips_before;
    report.elapsed = started.elapsed();
    report
}

fn probes(resources: &[&dyn Resource]) -> Vec<(String, String)> {
    resources.iter().map(|r| (r.id(), r.probe())).collect()
}

fn change_result(id: String, outcome: Outcome, summary: String, diff: Option<String>) -> ResourceResult {
    ResourceResult { id, outcome, summary, diff }
}

fn run(session: &Session, resources: &[Box<dyn Resource>], mode: Mode, report: &mut HostReport) {
    let all: Vec<&dyn Resource> = resources.iter().map(|r| r.as_ref()).collect();
    let observed = match observe_list(session, &probes(&all)) {
        Ok(o) => o,
        Err(e) => {
            report.error = Some(format!("{e:#}"));
            return;
        }
    };

    // Ids changed (or that would change) so far: the handlers' triggers.
    let mut changed: BTreeSet<String> = BTreeSet::new();
    // Resources applied for real, to be verified afterwards (index into `all`, into results).
    let mut applied: Vec<(usize, usize)> = Vec::new();
    let mut stopped = false;

    for (i, (r, obs)) in all.iter().zip(&observed).enumerate() {
        let id = r.id();
        if stopped {
            report.results.push(ResourceResult::new(id, Outcome::Skipped, "an earlier step on this host failed"));
            continue;
        }
        let status = match r.evaluate(obs) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("{e:#}");
                report.results.push(ResourceResult::new(id, Outcome::Failed(why.clone()), why));
                stopped = mode == Mode::Apply;
                continue;
            }
        };
        let triggers: Vec<String> = r.notified_by().into_iter().filter(|n| changed.contains(n)).collect();
        match (status, mode) {
            (Status::InState, _) if triggers.is_empty() => {
                report.results.push(ResourceResult::new(id, Outcome::Ok, ""));
            }
            (Status::InState, Mode::Check) => {
                let summary = format!("would run (notified by {})", triggers.join(", "));
                report.results.push(ResourceResult::new(id.clone(), Outcome::WouldChange, summary));
                changed.insert(id);
            }
            (Status::InState, Mode::Apply) => match r.on_notify(session) {
                Ok(()) => {
                    let summary = format!("ran (notified by {})", triggers.join(", "));
                    report.results.push(ResourceResult::new(id.clone(), Outcome::Changed, summary));
                    changed.insert(id);
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    report.results.push(ResourceResult::new(id, Outcome::Failed(why.clone()), why));
                    stopped = true;
                }
            },
            (Status::Change { summary, diff }, Mode::Check) => {
                report.results.push(change_result(id.clone(), Outcome::WouldChange, summary, diff));
                changed.insert(id);
            }
            (Status::Change { summary, diff }, Mode::Apply) => match r.apply(session) {
                Ok(()) => {
                    applied.push((i, report.results.len()));
                    report.results.push(change_result(id.clone(), Outcome::Changed, summary, diff));
                    changed.insert(id);
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    report.results.push(change_result(id, Outcome::Failed(why), summary, diff));
                    stopped = true;
                }
            },
        }
    }

    if applied.is_empty() {
        return;
    }
    // Verify: the changed resources must now observe as in state (one more round trip).
    let again: Vec<&dyn Resource> = applied.iter().map(|(i, _)| all[*i]).collect();
    let observed = match observe_list(session, &probes(&again)) {
        Ok(o) => o,
        Err(e) => {
            report.error = Some(format!("verification after changes failed: {e:#}"));
            return;
        }
    };
    for ((r, obs), (_, slot)) in again.iter().zip(&observed).zip(&applied) {
        let verdict = match r.evaluate(obs) {
            Ok(Status::InState) => continue,
            Ok(Status::Change { summary, .. }) => format!("did not converge: still {summary}"),
            Err(e) => format!("did not converge: {e:#}"),
        };
        report.results[*slot].outcome = Outcome::Failed(verdict);
    }
}
