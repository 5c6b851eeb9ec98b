//! `bootstrap-qdevice`: the Raspberry Pi arbiter, managed and hardened; `harden` closes the
//! temporary root window form-cluster opens. Thin wrapper over the library.

use anyhow::bail;
use bootstrap_qdevice::{qdevice_host, run, run_harden, TOOL};
use clap::{Parser, Subcommand};
use common::cli::{run_phase, CommonArgs, ErrorOutput};
use common::engine::{Mode, RunReport};
use common::inventory::{self, SecretNeed};

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

fn main() {
    let args = Args::parse();
    let harden = matches!(args.cmd, Some(Cmd::Harden));
    let needs: &[SecretNeed] = if harden { &[] } else { &[SecretNeed::QDeviceFirstContact] };
    run_phase(&args.common, ErrorOutput::Stderr, needs, |cli, loaded, mode| {
        let host = qdevice_host(loaded)?;
        if !cli.args.selects(&host.name) {
            bail!("--node does not name the qdevice {}; nothing to do", host.name);
        }
        let report = if harden {
            if mode == Mode::Check {
                bail!("harden has no --check; run `bootstrap-qdevice --check` to see the whole desired state");
            }
            run_harden(loaded, &host)
        } else {
            // The Pi's root password is read only if the automation login is refused
            // (common::access::first_contact): a bootstrapped Pi does not need it.
            run(loaded, &host, &bootstrap_node_keys(loaded)?, mode)
        };
        Ok(RunReport::new(if harden { format!("{TOOL} harden") } else { TOOL.to_string() }, vec![report]))
    })
}

/// The automation user's keys (literal + github:) as authorized_keys lines.
fn bootstrap_node_keys(loaded: &inventory::LoadedInventory) -> anyhow::Result<Vec<String>> {
    Ok(inventory::keys::resolve_keys(loaded)?.iter().map(|k| k.to_line()).collect())
}
