//! form-cluster: phase 3 of the runbook (issue 7) — two Proxmox nodes, two corosync links, a
//! QDevice, verified; and the rebuild of one reinstalled node.
//!
//! # Flow ([`run()`])
//!
//! 1. **connect** to every node as the automation user (pinned host keys; a node whose link0
//!    address does not answer is reached over link1) and to the Pi;
//! 2. **observe** each host in ONE batched round trip ([`facts`]: hostname, `ip -j addr`, host
//!    and root keys, root's SSH files, `/etc/pve/corosync.conf`, `pvecm status`,
//!    `corosync-cfgtool -s`, `corosync-qdevice-tool -s`; on the Pi qnetd and the root-window
//!    state) plus every resource's probe;
//! 3. **plan** ([`plan`]) — refusals (a link address the node lacks, another cluster name, a
//!    stale member without `--node`, qnetd down when the QDevice must be set up, an odd node
//!    count without `lms` …) stop the run before anything changes;
//! 4. **apply**: stale node out (`pvecm delnode` while the QDevice still votes) and its host
//!    keys cleaned ([`cleanup`]) → root key pairs, the cluster's root keys and host-key pins
//!    ([`trust`], [`resources`]), corosync-qdevice → `pvecm create` → `pvecm add --use_ssh`
//!    one node at a time, success decided from post-conditions ([`pvecm`]) → the QDevice through
//!    the Pi's temporary root window, closed on every exit path ([`window`]) → `pvecm
//!    updatecerts` after a rebuild → trust again → wait until every node verifies;
//! 5. **verify** ([`verify`]) on every node: quorate, the expected vote counts, the Qdevice
//!    flag, both links connected, nodelist = inventory; on the Pi: qnetd serving the cluster,
//!    root window closed. A degraded link is a warning (a failure with `--strict`).
//!
//! A converged cluster costs one round trip per host and reports zero changes.
//!
//! # For drift-check
//!
//! * [`drift()`]`(loaded, strict) -> Result<RunReport>` — read-only: the same observation,
//!   every resource evaluated (`would change` = drift), the planned cluster steps as `would
//!   change`, and, when nothing would change, the full verification (failures = drift). Its
//!   `RunReport::exit_code(Mode::Check)` is 0 / 1 / 2 like `form-cluster --check`. `Err` means
//!   the cluster could not be judged (a node unreachable, a refusal) — report it as a failure.
//! * Finer pieces: [`connect`] + [`observe_cluster`] give [`Observation`] (facts of every
//!   node and the Pi); [`resources::node_resources`] the desired per-node resources;
//!   [`verify::verify`] the findings; [`plan::plan`] the steps.

pub mod cleanup;
pub mod facts;
pub mod plan;
pub mod progress;
pub mod pvecm;
pub mod resources;
pub mod run;
pub mod trust;
pub mod verify;
pub mod votes;
pub mod window;

pub use run::{connect, drift, observe_cluster, run, Hosts, Observation, Settings, PHASE};
