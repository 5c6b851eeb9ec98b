//! `common`: the shared engine of homelab-iac.
//!
//! * [`inventory`] — the typed `homelab.toml`, its validation, key sources, secrets by name.
//! * [`ssh`] — verified SSH sessions (pinned host keys), exec with stdin, sudo, atomic upload.
//! * [`engine`] — facts (command + parser) and resources (desired state → diff → apply → verify),
//!   one observation round trip per host, hosts in parallel, a run report.
//! * [`parsers`] — pure parsers of Proxmox / corosync / system command output.
//! * [`cli`] — the flags every binary shares; [`output`] — logging and report rendering.

pub mod access;
pub mod baseline;
pub mod cli;
pub mod engine;
pub mod inventory;
pub mod output;
pub mod parsers;
pub mod secret;
pub mod ssh;

/// Version string shown by `--version` and written into completion markers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
