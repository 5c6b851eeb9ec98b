//! form-cluster: phase 3 of the runbook (issue 7).
//!
//! Two Proxmox nodes, two corosync links, a QDevice, verified — and rebuilding one node.
//! See [`run`] for the whole flow; drift-check uses [`observe_cluster`] + [`verify`].

pub mod cleanup;
pub mod facts;
pub mod plan;
pub mod pvecm;
pub mod trust;
pub mod votes;
pub mod verify;
pub mod resources;
pub mod progress;
pub mod run;
pub mod window;

pub use run::{connect, drift, observe_cluster, run, Hosts, Observation, Settings, PHASE};
