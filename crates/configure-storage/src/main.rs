//! `configure-storage`: NFS storages, shared directories, ZFS properties, replication and
//! backup jobs, memory monitoring — from the inventory. Thin wrapper over the library (see
//! `configure_storage::run`); exit 0 ok, 1 error, 2 pending changes with `--check`.

use clap::Parser;
use common::cli::{exit, CommonArgs};
use common::engine::Mode;
use common::inventory;
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

fn fail(json: bool, msg: impl std::fmt::Display) -> ! {
    let text = common::secret::redact(&format!("{msg}"));
    if json {
        println!("{}", serde_json::json!({ "phase": PHASE, "error": text, "changes": 0, "failed": 1 }));
    } else {
        eprintln!("error: {text}");
    }
    std::process::exit(exit::ERROR)
}

fn main() {
    let args = Args::parse();
    common::output::init_logging(&args.common);
    let json = args.common.json;
    if args.common.validate {
        // No secrets needed: the automation user logs in with its key.
        std::process::exit(inventory::run_validate(&args.common, &[]));
    }
    let mut loaded = inventory::load(&args.common.inventory).unwrap_or_else(|e| fail(json, e));
    common::access::apply_cli_overrides(&mut loaded, &args.common);
    let mode = Mode::from_check_flag(args.common.check);
    let settings = Settings {
        mode,
        opts: Options { recreate: args.recreate, create_test_guest: args.create_test_guest },
        nodes: args.common.nodes.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let report = run(&loaded, &settings).unwrap_or_else(|e| fail(json, format!("{e:#}")));
    if json {
        println!("{}", report.to_json());
    } else if !args.common.quiet || report.failures() > 0 {
        print!("{}", report.render_human(args.common.verbose));
    }
    std::process::exit(report.exit_code(mode));
}
