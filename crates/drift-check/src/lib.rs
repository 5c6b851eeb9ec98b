//! drift-check: the whole homelab compared with its inventory, read-only (issue 9).
//!
//! Every phase's desired state is reused from the phase libraries ([`phases`]): nothing is
//! re-described here. Each host is reached as the automation user and observed in ONE batched
//! round trip holding every phase's probes ([`batch`]); hosts run in parallel. Evaluation then
//! sorts what differs into three buckets ([`classify`]):
//!
//! * **missing** — declared, absent;
//! * **different** — declared, differs (with a field-level or unified diff);
//! * **unmanaged** — present, declared by nobody: a stray authorized key, an undeclared
//!   storage / backup job / replication job, a root-key window left open on the Pi, an extra
//!   corosync node;
//!
//! and reports health: quorum and votes, corosync links, the QDevice, qnetd, replication
//! failures and inactive storages. Output for people, `--json` for machines, `--prometheus`
//! for node_exporter, `--markdown` for CI summaries ([`render`], [`prometheus`]); scheduling on
//! the control host with [`timer`].
//!
//! Exit codes: 0 clean; 2 drift or degraded health; 1 something could not be checked (named).
//!
//! Read-only by construction: the only remote command is the engine's batched observation;
//! no resource's `apply` is reachable from [`run::run`].

pub mod batch;
pub mod classify;
pub mod model;
pub mod phases;
pub mod prometheus;
pub mod render;
pub mod run;
pub mod timer;

pub use model::{Bucket, DriftItem, Health, HostResult, Report};
pub use phases::PhaseSet;
pub use run::{run, Options};

/// Name in reports.
pub const TOOL: &str = "drift-check";
