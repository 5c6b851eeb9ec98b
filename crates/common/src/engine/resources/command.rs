//! The escape hatch: a resource made of your probe, your predicate and your script, for
//! state no standard resource covers (`pvecm` settings, a password hash, a kernel module …).

use crate::engine::{Observed, Resource, Status};
use crate::ssh::Session;
use anyhow::Result;

type Check = Box<dyn Fn(&Observed) -> Result<Status> + Send + Sync>;

/// A generic resource. `apply_script` runs as root via `sh -s` (on stdin: values in it,
/// including secrets, never reach a process list).
pub struct Command {
    pub id: String,
    pub probe: String,
    pub check: Check,
    pub apply_script: String,
    pub notified_by: Vec<String>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("id", &self.id).field("probe", &self.probe).finish_non_exhaustive()
    }
}

impl Command {
    /// In state when `is_in_state(observed)`; otherwise the change is reported as `summary`.
    pub fn new(
        id: &str,
        probe: &str,
        is_in_state: impl Fn(&Observed) -> bool + Send + Sync + 'static,
        summary: &str,
        apply_script: &str,
    ) -> Self {
        let summary = summary.to_string();
        Command {
            id: id.to_string(),
            probe: probe.to_string(),
            check: Box::new(move |o| Ok(if is_in_state(o) { Status::InState } else { Status::change(summary.clone()) })),
            apply_script: apply_script.to_string(),
            notified_by: Vec::new(),
        }
    }

    /// Full control over the verdict (summary and diff computed from the observation).
    pub fn with_check(
        id: &str,
        probe: &str,
        check: impl Fn(&Observed) -> Result<Status> + Send + Sync + 'static,
        apply_script: &str,
    ) -> Self {
        Command {
            id: id.to_string(),
            probe: probe.to_string(),
            check: Box::new(check),
            apply_script: apply_script.to_string(),
            notified_by: Vec::new(),
        }
    }

    /// Make this a handler of the given resource ids.
    pub fn notified_by(mut self, ids: &[&str]) -> Self {
        self.notified_by = ids.iter().map(|s| s.to_string()).collect();
        self
    }
}

impl Resource for Command {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn probe(&self) -> String {
        self.probe.clone()
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        (self.check)(observed)
    }
    fn apply(&self, session: &Session) -> Result<()> {
        let out = session.script_root(&self.apply_script)?;
        session.check(&self.id, out).map(drop)
    }
    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.apply_script.clone()))
    }
    fn notified_by(&self) -> Vec<String> {
        self.notified_by.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_and_custom_check() {
        let c = Command::new("marker", "test -e /x", |o| o.status == 0, "create /x", "touch /x");
        assert_eq!(c.evaluate(&Observed::new("", 0)).unwrap(), Status::InState);
        assert_eq!(c.evaluate(&Observed::new("", 1)).unwrap(), Status::change("create /x"));
        let c = Command::with_check(
            "tz",
            "cat /etc/timezone",
            |o| Ok(if o.stdout.trim() == "UTC" { Status::InState } else { Status::change(format!("{} → UTC", o.stdout.trim())) }),
            "echo UTC > /etc/timezone",
        )
        .notified_by(&["file /etc/x"]);
        assert_eq!(c.evaluate(&Observed::new("Etc/GMT\n", 0)).unwrap(), Status::change("Etc/GMT → UTC"));
        assert_eq!(Resource::notified_by(&c), vec!["file /etc/x".to_string()]);
    }
}
