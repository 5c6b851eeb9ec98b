//! `pve-sim`: the Proxmox VE simulator installed into lab hosts (issue 3, BRIEFING "pve-sim
//! installation"). The binary (`main.rs`) is a thin multi-call dispatcher; everything lives here
//! so the conformance tests can drive the renderers and applets without a lab.
//!
//! Formats, error strings and exit codes follow /work/shared/research/pve-cli.md (cited as
//! `pve-cli.md §N` next to the code that reproduces them).

pub mod applets;
pub mod calendar;
pub mod cli;
pub mod corosync;
pub mod daemons;
pub mod json;
pub mod labinit;
pub mod model;
pub mod nodefiles;
pub mod packages;
pub mod pmxcfs;
pub mod render;
pub mod sys;
