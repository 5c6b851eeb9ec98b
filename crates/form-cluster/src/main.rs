//! `form-cluster`: node SSH trust, `pvecm create` + `add` with two links, the QDevice, and the
//! verification — or, with `--node NAME` after a reinstall, the rebuild of that node.
//! Thin wrapper over the library (see `form_cluster::run`); exit 0 ok, 1 error, 2 pending
//! changes with `--check`.

use clap::Parser;
use common::cli::{run_phase, CommonArgs, ErrorOutput};
use form_cluster::plan::Options;
use form_cluster::progress::Progress;
use form_cluster::{run, Settings, PHASE};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "form-cluster",
    version,
    about = "Form the Proxmox cluster: SSH trust, pvecm create/add with two corosync links, the QDevice, verification",
    long_about = "Form the Proxmox cluster from the inventory: root SSH trust between the nodes (keys and \
                  pinned host keys, no prompts), `pvecm create` on the master, `pvecm add --use_ssh` for each \
                  member (one at a time, waiting for quorum), the QDevice (`pvecm qdevice setup` through a \
                  temporary, from=-restricted root window on the Pi that is always closed again), and a \
                  verification of quorum, votes and both links on every node.\n\n\
                  After reinstalling a node, `form-cluster --node NAME` removes its stale membership and \
                  joins it again, keeping the surviving node quorate at every step."
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// A degraded corosync link (one of the two disconnected) is a failure (exit 1), not a warning.
    #[arg(long)]
    strict: bool,
    /// If the QDevice is configured with another host than the inventory's, remove it and set
    /// up the inventory's (otherwise that is reported and left alone).
    #[arg(long)]
    replace_qdevice: bool,
    /// Upper bound in seconds for each wait (quorum after create/join/delnode, votes after the
    /// QDevice setup, the final verification).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
}

fn main() {
    let args = Args::parse();
    // form-cluster needs no secret; the inventory rules include the QDevice/odd-count rule.
    run_phase(&args.common, ErrorOutput::JsonOnStdout { phase: PHASE }, &[], |cli, loaded, mode| {
        let settings = Settings {
            mode,
            opts: Options {
                nodes: cli.args.nodes.clone(),
                replace_qdevice: args.replace_qdevice,
                strict: args.strict,
            },
            timeout: Duration::from_secs(args.timeout.max(1)),
            progress: Progress::new(!cli.args.json && !cli.args.quiet),
        };
        run(loaded, &settings)
    })
}
