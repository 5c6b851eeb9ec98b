//! Facts and resources engine (see DESIGN.md "The engine").
//!
//! Learnt from pyinfra: *what is* (a probe: shell snippet + pure parser) apart from *what to
//! do* (apply). A phase describes its desired state as a list of [`Resource`]s and hands it to
//! [`converge`]:
//!
//! 1. **observe** — every resource's [`Resource::probe`] runs in ONE batched `sh -s` as root
//!    ([`observe()`]); sections are split apart by a random marker, each with its exit status;
//! 2. **evaluate** — [`Resource::evaluate`] (pure, unit-tested on sample output) says
//!    [`Status::InState`] or [`Status::Change`] with a one-line summary and a readable diff;
//! 3. [`Mode::Check`] stops here (`would change`); [`Mode::Apply`] makes each change in order,
//!    running handlers ([`Resource::notified_by`] / [`Resource::on_notify`]) where they fall,
//!    then re-observes the changed resources in one more round trip and requires `InState`.
//!    Consecutive changes that can be written as one script ([`Resource::apply_script`]) go
//!    to the host together, in one round trip; the others run alone ([`Resource::apply`]).
//!
//! ```no_run
//! use common::engine::{self, resources::{File, Directory}, Mode, Resource, RunReport};
//! # fn demo(targets: Vec<common::ssh::SshTarget>) {
//! let reports = engine::for_each_host(&targets, |t| {
//!     engine::with_session(t, |s| {
//!         let want: Vec<Box<dyn Resource>> = vec![
//!             Box::new(Directory::new("/etc/homelab", 0o755)),
//!             Box::new(File::new("/etc/homelab/motd", "hello\n", 0o644)),
//!         ];
//!         engine::converge(s, &want, Mode::Apply)
//!     })
//! });
//! let run = RunReport::new("bootstrap-node", reports);
//! print!("{}", run.render_human(0));
//! std::process::exit(run.exit_code(Mode::Apply));
//! # }
//! ```
//!
//! Steps that are not resources (`pvecm add`) go into the same [`HostReport`] with
//! [`HostReport::push`]; reports of several steps combine with [`HostReport::merge`].

mod batch;
mod converge;
mod drift;
mod hosts;
pub mod observe;
mod report;
pub mod resources;

pub use batch::{STALE, STALE_LINE};
pub use converge::converge;
pub use drift::DriftKind;
pub use hosts::{for_each_host, with_session};
pub use observe::{observe, observe_list, Observed};
pub use report::{HostReport, Outcome, ResourceResult, RunReport};

use crate::ssh::Session;

/// Whether to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply changes and verify them.
    Apply,
    /// `--check`: report what would change, change nothing.
    Check,
}

impl Mode {
    /// `--check` → Check, else Apply.
    pub fn from_check_flag(check: bool) -> Self {
        if check {
            Mode::Check
        } else {
            Mode::Apply
        }
    }
}

/// A resource's verdict on what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    InState,
    /// `summary`: one line ("content differs", "mode 0644 → 0600", "create");
    /// `diff`: optional multi-line detail (a unified diff), never secret content.
    Change { summary: String, diff: Option<String> },
}

impl Status {
    pub fn change(summary: impl Into<String>) -> Self {
        Status::Change { summary: summary.into(), diff: None }
    }
    pub fn change_with_diff(summary: impl Into<String>, diff: Option<String>) -> Self {
        Status::Change { summary: summary.into(), diff }
    }
}

/// One piece of desired state on a host.
pub trait Resource: Send + Sync {
    /// Stable, human id, e.g. `file /etc/sudoers.d/homelab`; handlers refer to it.
    fn id(&self) -> String;
    /// POSIX sh snippet run as root inside the batched observation (stdin is /dev/null; it
    /// may `exit`). Keep it cheap and robust to absent files.
    fn probe(&self) -> String;
    /// Pure: what the probe printed → in state or the change needed. An `Err` means the
    /// situation cannot be handled automatically (e.g. a directory where a file should be).
    fn evaluate(&self, observed: &Observed) -> anyhow::Result<Status>;
    /// Make it so: few commands, idempotent (it may run on a host that changed meanwhile).
    /// The engine calls it only when [`Resource::apply_script`] gives no script, or when that
    /// script found the host changed since the observation (stale).
    fn apply(&self, session: &Session) -> anyhow::Result<()>;
    /// The same change as one self-contained POSIX sh script run as root (stdin /dev/null,
    /// non-zero exit = failed, stderr says why), when it needs nothing from the controller
    /// between its commands. The engine sends the scripts of consecutive changes together in
    /// one round trip. `observed` is what this run's probe saw: a script computed from it must
    /// check that the host still matches it, and otherwise print [`STALE_LINE`] and exit
    /// [`STALE`]; the engine then calls [`Resource::apply`] instead (see `EditedFile`). `None` (the default):
    /// [`Resource::apply`] runs on its own. `Some(Err)`: the change cannot be made; it fails.
    fn apply_script(&self, _observed: &Observed) -> Option<anyhow::Result<String>> {
        None
    }
    /// Called once the change (apply or notify, by script or not) succeeded; for resources
    /// that keep run state (the completion marker's pending rewrite).
    fn after_apply(&self) {}
    /// Handler semantics: ids of resources whose change in this run must trigger
    /// [`Resource::on_notify`] (apt-get update after a sources file, sshd reload after a drop-in).
    fn notified_by(&self) -> Vec<String> {
        Vec::new()
    }
    /// What runs when notified while otherwise in state. Default: [`Resource::apply`].
    fn on_notify(&self, session: &Session) -> anyhow::Result<()> {
        self.apply(session)
    }
    /// [`Resource::on_notify`] as a script, like [`Resource::apply_script`]. Default: the
    /// apply script — override it together with `on_notify`.
    fn notify_script(&self, observed: &Observed) -> Option<anyhow::Result<String>> {
        self.apply_script(observed)
    }
    /// drift-check's bucket for a [`Status::Change`] with `summary` (never called for
    /// `InState`). Default: [`DriftKind::infer`] from the summary's first word ("create …" →
    /// missing, "remove …" → unmanaged, else different); override when that does not fit.
    fn drift_kind(&self, _observed: &Observed, summary: &str) -> DriftKind {
        DriftKind::infer(summary)
    }
}
