//! Pure readers and writers of the Proxmox VE file formats that both the tools (`common`'s parsers)
//! and the lab simulator (`pve-sim`) must agree on, byte for byte.
//!
//! - [`corosync`]: `corosync.conf` as PVE parses it (`PVE::Corosync::parse_conf`) and writes it
//!   (`write_conf`) — layout: pve-cli.md §2.2.
//! - [`section_config`]: PVE "section config" files (`storage.cfg`, `jobs.cfg`, `replication.cfg`)
//!   — layout: pve-cli.md §1.4, §4.2, §5.3, §6.2.
//! - [`property_string`]: `key=value,key=value` property strings (`prune-backups`, `--link0`).
//!
//! No I/O happens here: callers read and write the files themselves (atomically).

pub mod corosync;
pub mod property_string;
pub mod section_config;
