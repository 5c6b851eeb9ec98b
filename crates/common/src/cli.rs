//! Flags shared by every binary (DESIGN.md "Shared CLI conventions").
//!
//! Each phase embeds [`CommonArgs`] with `#[command(flatten)]`.

use clap::Args;
use std::path::PathBuf;

pub mod phase;
pub use phase::{fail, run_phase, ErrorOutput, PhaseCli};

/// Exit codes shared by every binary.
pub mod exit {
    /// Done, or already in state.
    pub const OK: i32 = 0;
    /// Error (bad input, unreachable host, failed step).
    pub const ERROR: i32 = 1;
    /// Changes pending (`--check`) or drift found.
    pub const CHANGES: i32 = 2;
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Inventory file.
    #[arg(short = 'i', long = "inventory", env = "HOMELAB_INVENTORY", default_value = "homelab.toml", global = true)]
    pub inventory: PathBuf,

    /// Limit to these hosts (repeatable), e.g. when rebuilding one node.
    #[arg(long = "node", value_name = "NAME", global = true)]
    pub nodes: Vec<String>,

    /// Show what would change (with diffs) and change nothing. Exit 2 if changes are pending.
    #[arg(long, global = true)]
    pub check: bool,

    /// Machine-readable report on stdout (no progress output).
    #[arg(long, global = true)]
    pub json: bool,

    /// Load and check the inventory and this phase's needs (secrets set …), touch no host.
    #[arg(long, global = true)]
    pub validate: bool,

    /// Pinned known-hosts file (default: from the inventory, else `known_hosts` beside it).
    #[arg(long = "known-hosts", value_name = "FILE", global = true)]
    pub known_hosts: Option<PathBuf>,

    /// More output (-v: round trips and steps, -vv: debug).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
}

impl CommonArgs {
    /// Does `--node` select this host? (No `--node` given selects every host.)
    pub fn selects(&self, host: &str) -> bool {
        self.nodes.is_empty() || self.nodes.iter().any(|n| n == host)
    }
}
