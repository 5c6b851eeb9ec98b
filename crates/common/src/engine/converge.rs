//! observe → evaluate → (report | apply → handlers → verify) for one host's resources.

use super::batch;
use super::observe::{observe_list, Observed};
use super::report::{HostReport, Outcome, ResourceResult};
use super::{Mode, Resource, Status};
use crate::ssh::Session;
use std::collections::BTreeSet;
use std::time::Instant;

/// Bring `resources` into state on one host (or, in [`Mode::Check`], report what would
/// change). Round trips: 1 observation; in Apply mode + 1 per run of consecutive scripted
/// changes ([`Resource::apply_script`]) + 1 per other change + 1 verification of the changed
/// resources. A converged host therefore costs exactly one round trip.
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

/// A change the plan makes: apply a resource, or run it as a notified handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Apply,
    Notify,
}

/// One planned change: the resource's index (= its slot in the report) and the action.
struct Planned {
    index: usize,
    action: Action,
}

/// Scripted changes waiting to be sent together: the plan entries and, side by side, their
/// (resource id, script) as [`batch::run`] takes them.
#[derive(Default)]
struct Pending<'a> {
    planned: Vec<&'a Planned>,
    steps: Vec<(String, String)>,
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

    // Plan: evaluate everything, as Check mode reports it. A change is assumed to succeed —
    // if it does not, nothing after it runs, so no decision below is acted on wrongly.
    // Ids changed (or that would change) so far: the handlers' triggers.
    let mut changed: BTreeSet<String> = BTreeSet::new();
    let mut plan: Vec<Planned> = Vec::new();
    for (i, (r, obs)) in all.iter().zip(&observed).enumerate() {
        let id = r.id();
        let status = match r.evaluate(obs) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("{e:#}");
                report.results.push(ResourceResult::new(id, Outcome::Failed(why.clone()), why));
                if mode == Mode::Apply {
                    // Nothing after an unhandled situation is changed; what came before is.
                    skip_from(&all, i + 1, report);
                    break;
                }
                continue;
            }
        };
        let triggers: Vec<String> = r.notified_by().into_iter().filter(|n| changed.contains(n)).collect();
        let (outcome, summary, diff, action) = match (status, mode) {
            (Status::InState, _) if triggers.is_empty() => {
                report.results.push(ResourceResult::new(id, Outcome::Ok, ""));
                continue;
            }
            (Status::InState, Mode::Check) => {
                (Outcome::WouldChange, format!("would run (notified by {})", triggers.join(", ")), None, None)
            }
            (Status::InState, Mode::Apply) => {
                (Outcome::Changed, format!("ran (notified by {})", triggers.join(", ")), None, Some(Action::Notify))
            }
            (Status::Change { summary, diff }, Mode::Check) => (Outcome::WouldChange, summary, diff, None),
            (Status::Change { summary, diff }, Mode::Apply) => (Outcome::Changed, summary, diff, Some(Action::Apply)),
        };
        report.results.push(change_result(id.clone(), outcome, summary, diff));
        changed.insert(id);
        if let Some(action) = action {
            plan.push(Planned { index: i, action });
        }
    }
    if plan.is_empty() {
        return;
    }

    let applied = execute(session, &all, &observed, &plan, report);
    if applied.is_empty() {
        return;
    }
    // Verify: the changed resources must now observe as in state (one more round trip).
    let again: Vec<&dyn Resource> = applied.iter().map(|i| all[*i]).collect();
    let observed = match observe_list(session, &probes(&again)) {
        Ok(o) => o,
        Err(e) => {
            report.error = Some(format!("verification after changes failed: {e:#}"));
            return;
        }
    };
    for ((r, obs), slot) in again.iter().zip(&observed).zip(&applied) {
        let verdict = match r.evaluate(obs) {
            Ok(Status::InState) => continue,
            Ok(Status::Change { summary, .. }) => format!("did not converge: still {summary}"),
            Err(e) => format!("did not converge: {e:#}"),
        };
        report.results[*slot].outcome = Outcome::Failed(verdict);
    }
}

/// Make the planned changes in order: runs of scripted changes in one round trip each, the
/// others alone. Stops at the first failure (that result becomes `Failed`, everything after it
/// `Skipped`). Returns the indexes of the applied resources (not the handlers) to verify.
fn execute(
    session: &Session,
    all: &[&dyn Resource],
    observed: &[Observed],
    plan: &[Planned],
    report: &mut HostReport,
) -> Vec<usize> {
    let mut applied = Vec::new();
    let mut batch = Pending::default();
    let mut failed_at: Option<usize> = None;
    for p in plan {
        let r = all[p.index];
        let script = match p.action {
            Action::Apply => r.apply_script(&observed[p.index]),
            Action::Notify => r.notify_script(&observed[p.index]),
        };
        if let Some(Ok(script)) = script {
            batch.planned.push(p);
            batch.steps.push((r.id(), script));
            continue;
        }
        // Not batchable: what is pending goes first, in its own round trip.
        if let Some(at) = flush(session, all, &mut batch, &mut applied, report) {
            failed_at = Some(at);
            break;
        }
        let result = match script {
            Some(Err(e)) => Err(e),
            _ => run_alone(session, r, p),
        };
        match result {
            Ok(()) => done(r, p, &mut applied),
            Err(e) => {
                report.results[p.index].outcome = Outcome::Failed(format!("{e:#}"));
                failed_at = Some(p.index);
                break;
            }
        }
    }
    if failed_at.is_none() {
        failed_at = flush(session, all, &mut batch, &mut applied, report);
    }
    if let Some(at) = failed_at {
        skip_from(all, at + 1, report);
    }
    applied
}

/// A planned change through the resource's own `apply` / `on_notify` (its own round trips).
fn run_alone(session: &Session, r: &dyn Resource, p: &Planned) -> anyhow::Result<()> {
    match p.action {
        Action::Apply => r.apply(session),
        Action::Notify => r.on_notify(session),
    }
}

/// A change succeeded: let the resource know; remember applied ones for verification.
fn done(r: &dyn Resource, p: &Planned, applied: &mut Vec<usize>) {
    r.after_apply();
    if p.action == Action::Apply {
        applied.push(p.index);
    }
}

/// Send the pending batch (if any). Returns the index of the resource that failed, if one did.
/// A stale step (its script found the host changed since the observation, e.g. by an earlier
/// step) runs its own apply instead, and the steps after it go in a new batch.
fn flush(
    session: &Session,
    all: &[&dyn Resource],
    batch: &mut Pending,
    applied: &mut Vec<usize>,
    report: &mut HostReport,
) -> Option<usize> {
    let Pending { mut planned, mut steps } = std::mem::take(batch);
    'batches: while !steps.is_empty() {
        let outcomes = match batch::run(session, &steps) {
            Ok(o) => o,
            Err(e) => {
                // The batch did not come back: how far it got is unknown; the next run observes.
                let first = planned[0].index;
                let ids: Vec<&str> = steps.iter().map(|(id, _)| id.as_str()).collect();
                report.results[first].outcome =
                    Outcome::Failed(format!("{e:#} (while applying {}; re-run to converge)", ids.join(", ")));
                return Some(first);
            }
        };
        for (k, (p, outcome)) in planned.iter().zip(outcomes).enumerate() {
            let r = all[p.index];
            match outcome {
                batch::StepOutcome::Done => done(r, p, applied),
                batch::StepOutcome::Failed(why) => {
                    report.results[p.index].outcome = Outcome::Failed(why);
                    return Some(p.index);
                }
                batch::StepOutcome::Stale => {
                    log::debug!("{}: {}: changed since observed; applying it on its own", session.host(), r.id());
                    if let Err(e) = run_alone(session, r, p) {
                        report.results[p.index].outcome = Outcome::Failed(format!("{e:#}"));
                        return Some(p.index);
                    }
                    done(r, p, applied);
                    planned.drain(..=k);
                    steps.drain(..=k);
                    continue 'batches;
                }
            }
        }
        break;
    }
    None
}

/// Report every resource from `from` on as skipped (an earlier step failed).
fn skip_from(all: &[&dyn Resource], from: usize, report: &mut HostReport) {
    for (i, r) in all.iter().enumerate().skip(from) {
        let skipped = ResourceResult::new(r.id(), Outcome::Skipped, "an earlier step on this host failed");
        if i < report.results.len() {
            report.results[i] = skipped;
        } else {
            report.results.push(skipped);
        }
    }
}
