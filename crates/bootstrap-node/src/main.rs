//! `bootstrap-node`: from a fresh Proxmox VE install to a managed, hardened node.
//! Thin wrapper over the library (see `bootstrap_node` docs); exit 0 ok, 1 error, 2 pending
//! changes with `--check`.

use bootstrap_node::{automation_keys, run, selected, Options, TOOL};
use clap::Parser;
use common::cli::{exit, CommonArgs};
use common::engine::Mode;
use common::inventory::{self, run_validate, SecretNeed};

#[derive(Debug, Parser)]
#[command(name = "bootstrap-node", version, about = "Bootstrap Proxmox VE nodes: automation user, repositories, sshd hardening, host identity")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Also run `apt-get full-upgrade` when upgrades are pending.
    #[arg(long)]
    upgrade: bool,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{}", common::secret::redact(&format!("error: {msg}")));
    std::process::exit(exit::ERROR)
}

fn main() {
    let args = Args::parse();
    common::output::init_logging(&args.common);
    if args.common.validate {
        std::process::exit(run_validate(&args.common, &[SecretNeed::NodeFirstContact]));
    }
    let mut loaded = inventory::load(&args.common.inventory).unwrap_or_else(|e| fail(e));
    common::access::apply_cli_overrides(&mut loaded, &args.common);
    let nodes = selected(&loaded, &args.common).unwrap_or_else(|e| fail(format!("{e:#}")));
    // Secrets before any connection: a missing variable must not leave half-bootstrapped nodes.
    if let Err(e) = common::access::check_secrets(&loaded, &nodes) {
        fail(e);
    }
    let keys = automation_keys(&loaded).unwrap_or_else(|e| fail(format!("{e:#}")));
    let mode = Mode::from_check_flag(args.common.check);
    let opts = Options { upgrade: args.upgrade, ..Options::default() };
    let report = run(&loaded, &nodes, &keys, &opts, mode);
    if args.common.json {
        println!("{}", report.to_json());
    } else if !args.common.quiet || report.failures() > 0 {
        print!("{}", report.render_human(args.common.verbose));
    }
    log::debug!("{TOOL}: exit {}", report.exit_code(mode));
    std::process::exit(report.exit_code(mode));
}
