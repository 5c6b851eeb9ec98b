//! Batched apply: the scripts of consecutive changes on a host in ONE remote `sh -s` as root.
//!
//! A fresh host needs a dozen small changes (a sources file, a user, a sudoers drop-in, a
//! directory, a key file …). Sent one by one, each costs a round trip — on a fresh node that
//! was most of bootstrap-node's time (BENCHMARKS.md, issue 10). Here each change's script
//! runs in its own subshell (stdin /dev/null), between the same marker lines as the batched
//! observation ([`super::observe`]), and the batch stops at the first script that fails: the
//! changes after it were planned on the assumption that it succeeds, so they do not run.
//!
//! A script computed from this run's observation (an edit of a file's content) cannot know
//! whether an earlier change of the same run touched its file (a package install creating
//! the file it edits). It checks, and when the host no longer matches what was observed it
//! exits with [`STALE`] after printing [`STALE_LINE`]: the engine then runs that resource's
//! own [`Resource::apply`](super::Resource::apply), which works on what is there now, and
//! batches the rest.
//!
//! Nothing runs unless the whole batch arrived ([`Session::script_root`] wraps it in a
//! function called on its last line), and every script is itself atomic (temp file + rename),
//! so a batch cut short leaves each change either done or not started; the next run
//! converges from there.

use super::observe::{build_sections, parse_section, random_marker, OnFailure};
use crate::ssh::{Output, Session};
use anyhow::Result;

/// Exit status of a script that found the host changed since the observation it was computed
/// from (with [`STALE_LINE`] on stdout, so an unrelated command exiting 75 is not mistaken).
pub const STALE: i32 = 75;
/// The line a stale script prints on stdout before exiting with [`STALE`].
pub const STALE_LINE: &str = "hiac: observed state is stale";

/// What became of one step of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StepOutcome {
    Done,
    /// The script ran and failed: a message naming host and step, with the output's tail.
    Failed(String),
    /// The script found the host changed since it was observed and did nothing.
    Stale,
}

/// Run `steps` — (resource id, script) — in order in one round trip. The outcomes are those
/// of the steps that ran, in order: all of them, or up to and including the first that was
/// not [`StepOutcome::Done`] (nothing after it ran). `Err` only when the batch itself could
/// not be run or read (connection lost); then it is unknown how far it got.
pub(super) fn run(session: &Session, steps: &[(String, String)]) -> Result<Vec<StepOutcome>> {
    let marker = random_marker();
    let out = session.script_root(&build_sections(&marker, steps, OnFailure::Stop))?;
    let mut outcomes = Vec::with_capacity(steps.len());
    for (i, (id, _)) in steps.iter().enumerate() {
        let outcome = match parse_section(&marker, &out.stdout, &out.stderr, i) {
            Some(Ok(o)) if o.status == 0 => StepOutcome::Done,
            Some(Ok(o)) if o.status == STALE && o.stdout.lines().any(|l| l == STALE_LINE) => StepOutcome::Stale,
            Some(Ok(o)) => StepOutcome::Failed(format!(
                "{}: {} failed (exit {}): {}",
                session.host(),
                id,
                o.status,
                crate::secret::redact(&tail(&o.stdout, &o.stderr, 20))
            )),
            Some(Err(e)) => StepOutcome::Failed(format!("{}: {}: {e:#}", session.host(), id)),
            // Started and never ended: the batch shell itself died (killed, out of memory).
            None => StepOutcome::Failed(format!(
                "{}: {} did not finish (batch exit {}): {}",
                session.host(),
                id,
                out.status,
                crate::secret::redact(&out.tail(10))
            )),
        };
        let last = outcome != StepOutcome::Done;
        outcomes.push(outcome);
        if last {
            break;
        }
    }
    Ok(outcomes)
}

/// Last `n` lines of `stderr`, or of `stdout` when stderr is empty ([`Output::tail`]).
fn tail(stdout: &str, stderr: &str, n: usize) -> String {
    let out = Output { status: 0, stdout: stdout.to_string(), stderr: stderr.to_string() };
    let tail = out.tail(n);
    if tail.is_empty() {
        "(it printed nothing)".to_string()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script layout, run by a real shell: a failure stops the batch, later steps never
    /// run, and each step's output stays in its own section.
    #[test]
    fn a_failing_step_stops_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("third-ran");
        let steps = [
            ("first", "echo one; echo warn >&2".to_string()),
            ("second", "echo 'no space left' >&2; exit 7".to_string()),
            ("third", format!("touch '{}'", flag.display())),
        ];
        let marker = random_marker();
        let sections: Vec<(String, String)> = steps.iter().map(|(k, s)| (k.to_string(), s.clone())).collect();
        let script = build_sections(&marker, &sections, OnFailure::Stop);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let first = parse_section(&marker, &so, &se, 0).unwrap().unwrap();
        assert_eq!((first.stdout.as_str(), first.stderr.as_str(), first.status), ("one\n", "warn\n", 0));
        let second = parse_section(&marker, &so, &se, 1).unwrap().unwrap();
        assert_eq!(second.status, 7);
        assert_eq!(tail(&second.stdout, &second.stderr, 5), "no space left");
        assert!(parse_section(&marker, &so, &se, 2).is_none(), "the step after a failure ran: {so}");
        assert!(!flag.exists());
    }

    #[test]
    fn tail_prefers_stderr_and_says_when_empty() {
        assert_eq!(tail("out\n", "e1\ne2\ne3\n", 2), "e2\ne3");
        assert_eq!(tail("a\nb\n", " \n", 1), "b");
        assert_eq!(tail("", "", 3), "(it printed nothing)");
    }
}
