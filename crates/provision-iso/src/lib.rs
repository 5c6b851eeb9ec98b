//! provision-iso: phase 1 of the runbook — get Proxmox VE onto bare nodes unattended.
//!
//! * [`answer`] — the answer-file schema and a validator with the installer's rules and messages.
//! * [`generate`] — per-node `answer.toml` from the inventory.
//! * [`firstboot`] — the first-boot script (ssh on, automation keys, completion marker).
//! * [`iso`] — `prepare`: embed mode file, answer and first-boot script with xorriso.
//! * [`serve`] — the HTTP answer server and the post-installation webhook (host-key pins).
//!
//! Formats and messages are taken from `shared/research/auto-install.md`; sections are cited
//! as `§N` in the modules.

pub mod answer;
pub mod cli;
pub mod crypt;
pub mod firstboot;
pub mod fsutil;
pub mod generate;
pub mod iso;
pub mod serve;
