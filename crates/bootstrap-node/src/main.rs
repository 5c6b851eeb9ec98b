//! `bootstrap-node`: from a fresh Proxmox VE install to a managed, hardened node.
//! Thin wrapper over the library (see `bootstrap_node` docs); exit 0 ok, 1 error, 2 pending
//! changes with `--check`.

use bootstrap_node::{automation_keys, run, selected, Options, TOOL};
use clap::Parser;
use common::cli::{run_phase, CommonArgs, ErrorOutput};
use common::inventory::SecretNeed;

#[derive(Debug, Parser)]
#[command(name = "bootstrap-node", version, about = "Bootstrap Proxmox VE nodes: automation user, repositories, sshd hardening, host identity")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Also run `apt-get full-upgrade` when upgrades are pending.
    #[arg(long)]
    upgrade: bool,
}

fn main() {
    let args = Args::parse();
    run_phase(&args.common, ErrorOutput::Stderr, &[SecretNeed::NodeFirstContact], |cli, loaded, mode| {
        let nodes = selected(loaded, cli.args)?;
        // First-contact secrets are read per node, only when its automation login is refused
        // (common::access::first_contact): a bootstrapped node does not need them.
        let keys = automation_keys(loaded)?;
        let opts = Options { upgrade: args.upgrade, ..Options::default() };
        let report = run(loaded, &nodes, &keys, &opts, mode);
        log::debug!("{TOOL}: exit {}", report.exit_code(mode));
        Ok(report)
    })
}
