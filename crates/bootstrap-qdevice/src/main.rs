//! `bootstrap-qdevice`: the Raspberry Pi arbiter, managed and hardened; `harden` closes the
//! temporary root window form-cluster opens. Thin wrapper over the library.

use bootstrap_qdevice::{qdevice_host, run, run_harden, TOOL};
use clap::{Parser, Subcommand};
use common::cli::{exit, CommonArgs};
use common::engine::{Mode, RunReport};
use common::inventory::{self, run_validate, SecretNeed};

#[derive(Debug, Parser)]
#[command(name = "bootstrap-qdevice", version, about = "Bootstrap the QDevice host: automation user, corosync-qnetd, sshd hardening")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Close the temporary root window: remove the tools' root keys, PermitRootLogin no,
    /// reload sshd, remove the window marker. Idempotent.
    Harden,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{}", common::secret::redact(&format!("error: {msg}")));
    std::process::exit(exit::ERROR)
}

fn main() {
    let args = Args::parse();
    common::output::init_logging(&args.common);
    let harden = matches!(args.cmd, Some(Cmd::Harden));
    if args.common.validate {
        let needs: &[SecretNeed] = if harden { &[] } else { &[SecretNeed::QDeviceFirstContact] };
        std::process::exit(run_validate(&args.common, needs));
    }
    let mut loaded = inventory::load(&args.common.inventory).unwrap_or_else(|e| fail(e));
    common::access::apply_cli_overrides(&mut loaded, &args.common);
    let host = qdevice_host(&loaded).unwrap_or_else(|e| fail(format!("{e:#}")));
    if !args.common.selects(&host.name) {
        fail(format!("--node does not name the qdevice {}; nothing to do", host.name));
    }
    let mode = Mode::from_check_flag(args.common.check);
    let report = if harden {
        if mode == Mode::Check {
            fail("harden has no --check; run `bootstrap-qdevice --check` to see the whole desired state");
        }
        run_harden(&loaded, &host)
    } else {
        // Secrets before any connection.
        if let Err(e) = common::access::check_secrets(&loaded, std::slice::from_ref(&host)) {
            fail(e);
        }
        let keys = bootstrap_node_keys(&loaded);
        run(&loaded, &host, &keys, mode)
    };
    let run = RunReport::new(if harden { format!("{TOOL} harden") } else { TOOL.to_string() }, vec![report]);
    if args.common.json {
        println!("{}", run.to_json());
    } else if !args.common.quiet || run.failures() > 0 {
        print!("{}", run.render_human(args.common.verbose));
    }
    std::process::exit(run.exit_code(mode));
}

/// The automation user's keys (literal + github:), or exit with the reason.
fn bootstrap_node_keys(loaded: &inventory::LoadedInventory) -> Vec<String> {
    match inventory::keys::resolve_keys(loaded) {
        Ok(k) => k.iter().map(|k| k.to_line()).collect(),
        Err(e) => fail(format!("{e:#}")),
    }
}
