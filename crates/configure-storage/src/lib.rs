//! configure-storage: phase 4 of the runbook (issue 8).
//!
//! NFS storages, the content directories on shared storage, ZFS dataset properties,
//! replication jobs (and the optional test guest), backup jobs and memory monitoring — from
//! the inventory, idempotently, never destroying or recreating a guest or a job that is right.
//!
//! For drift-check:
//! * [`run`] with [`Settings::check()`] is the whole read-only check (one round trip per host,
//!   exit code via [`common::engine::RunReport::exit_code`]);
//! * [`Desired`] gives the resources (`cluster_resources` on the master, `node_resources` per
//!   node) — plain engine resources, usable with `common::engine::converge(…, Mode::Check)`;
//! * [`preflight::check`] and [`health`] are the cluster-level checks on parsed [`facts`].

pub mod backup;
pub mod desired;
pub mod diff;
pub mod facts;
pub mod health;
pub mod monitoring;
pub mod nfs;
pub mod preflight;
pub mod probes;
pub mod replication;
pub mod run;
pub mod zfs;

pub use desired::{Desired, Options};
pub use run::{run, Settings, PHASE};
