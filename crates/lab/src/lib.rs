//! The rehearsal lab: simulated Proxmox nodes, a Raspberry Pi QDevice and a NAS as Linux
//! namespaces on one machine, with real sshd (and real corosync once the phases start it).
//!
//! The recipe, its timings and its gotchas are in `shared/research/lab-feasibility.md`; the
//! conventions other crates rely on (names, addresses, lab dir, pve-sim interface) are in the
//! BRIEFING's "Lab conventions". The `lab` binary (`main.rs`) is a thin CLI over these modules;
//! tests of every crate use [`testing::LabGuard`].
//!
//! * [`topology`] — hosts, addresses, interface names, MACs
//! * [`network`] — bridges, namespaces, veths; link faults
//! * [`upper`], [`keys`], [`host_init`], [`host`] — one host: its disk, identity, PID 1, boot
//! * [`up`], [`down`], [`fault`], [`status`], [`exec`] — the commands
//! * [`inventory`], [`labfiles`] — what `lab up` writes to `.lab/`
//! * [`remnants`] — everything a lab could leave behind, found by looking

pub mod down;
pub mod exec;
pub mod fault;
pub mod host;
pub mod host_init;
pub mod inventory;
pub mod keys;
pub mod labfiles;
pub mod network;
pub mod paths;
pub mod prereq;
pub mod remnants;
pub mod state;
pub mod status;
pub mod sys;
pub mod testing;
pub mod topology;
pub mod up;
pub mod upper;
