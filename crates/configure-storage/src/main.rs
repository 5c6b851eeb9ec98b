//! `configure-storage`: NFS storages, shared directories, ZFS properties, replication and
//! backup jobs, memory monitoring — from the inventory. Thin wrapper over the library (see
//! `configure_storage::run`); exit 0 ok, 1 error, 2 pending changes with `--check`.

use clap::Parser;
use common::cli::{run_phase, CommonArgs, ErrorOutput};
use configure_storage::{run, Options, Settings, PHASE};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "configure-storage",
    version,
    about = "Configure storage: NFS storages, ZFS properties, replication and backup jobs, memory monitoring",
    long_about = "Bring the cluster's storage configuration to the inventory: NFS storages (pvesm add/set; \
                  fixed fields only with --recreate), content directories on shared storage, ZFS dataset \
                  properties on every node, replication jobs (created, updated, and removed only when this \
                  tool created them), backup jobs with explicit ids, and the memory check with its cron entry.\n\n\
                  Everything is checked before anything changes: quorum, the NFS servers and their exports, \
                  the replicated guests and their ZFS disks. A converged cluster costs one SSH round trip \
                  per host and reports no changes."
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Remove and add again an NFS storage whose server, export or path differs from the
    /// inventory (PVE cannot change those in place). Guests keep their volume references.
    #[arg(long)]
    recreate: bool,
    /// Create the small test guest of replication jobs marked `test_guest = true` when it does
    /// not exist (never destroys or changes an existing guest).
    #[arg(long)]
    create_test_guest: bool,
    /// Upper bound in seconds for waiting until changed storages are active on every node.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

fn main() {
    let args = Args::parse();
    // No secrets needed: the automation user logs in with its key.
    run_phase(&args.common, ErrorOutput::JsonOnStdout { phase: PHASE }, &[], |cli, loaded, mode| {
        let settings = Settings {
            mode,
            opts: Options { recreate: args.recreate, create_test_guest: args.create_test_guest },
            nodes: cli.args.nodes.clone(),
            timeout: Duration::from_secs(args.timeout.max(1)),
        };
        run(loaded, &settings)
    })
}
