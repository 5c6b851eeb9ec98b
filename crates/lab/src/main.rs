//! `lab`: the rehearsal lab on this machine (see the `lab` library for how it works).

use clap::{Parser, Subcommand};
use lab::fault::Fault;
use lab::topology::{LabShape, Link};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lab",
    version,
    about = "Rehearse a Proxmox cluster on one Linux machine: simulated nodes, a Pi QDevice and a NAS",
    long_about = "Rehearse a Proxmox cluster on one Linux machine: simulated Proxmox nodes, a Raspberry Pi \
QDevice and a NAS as Linux namespaces with real sshd.\n\nThe lab is one machine-wide resource: hold \
/tmp/homelab-lab.lock while yours exists, e.g. `flock /tmp/homelab-lab.lock lab up`. Needs root.\n\
Lab dir: .lab/ in the current directory, or $HOMELAB_LAB_DIR."
)]
struct Cli {
    /// More output (`lab up -v` prints stage timings).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the lab and write .lab/ (inventory, key, known_hosts, secrets.env, ssh_config).
    Up {
        /// Number of Proxmox nodes (pve-node1 … pve-nodeN).
        #[arg(long, default_value_t = 2)]
        nodes: u32,
        /// No Raspberry Pi QDevice (qdevice1).
        #[arg(long)]
        no_qdevice: bool,
        /// With the NAS (default).
        #[arg(long, overrides_with = "no_nas")]
        nas: bool,
        /// Without the NAS.
        #[arg(long, overrides_with = "nas")]
        no_nas: bool,
        /// Plain Debian hosts with sshd: do not install the Proxmox simulator.
        #[arg(long)]
        no_sim: bool,
    },
    /// Remove the lab completely and verify nothing is left.
    Down,
    /// Hosts, processes, addresses, links, memory and the lab dir's files.
    Status {
        /// Machine-readable.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a host (all its namespaces, clean environment); exit code passes through.
    Exec {
        host: String,
        /// The command (after --).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// ssh to a host as root with the lab's config (key, pinned host keys).
    Ssh {
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Inject a fault.
    Fault {
        #[command(subcommand)]
        fault: FaultCmd,
    },
}

#[derive(Subcommand)]
enum FaultCmd {
    /// Take a host's link down (its cable on that network).
    LinkDown { host: String, link: Link },
    /// Bring a host's link back up.
    LinkUp { host: String, link: Link },
    /// Clean shutdown (services stopped by their init scripts); the disk is kept.
    Stop { host: String },
    /// Boot a stopped host over its kept disk (a running one is power-cycled).
    Start { host: String },
    /// kill -9 the host's corosync, corosync-qdevice, corosync-qnetd and sshd; PID 1 lives.
    Crash { host: String },
    /// Reinstall: new disk, new host keys, first boot; pve pins are replaced as the install webhook would.
    Wipe { host: String },
}

/// Descriptors the caller left open (a shell's `exec 9>/tmp/homelab-lab.lock; flock 9`) would
/// be inherited by every host process `lab up` starts, so the lab's hosts would hold the
/// caller's lock for as long as the lab lives. Mark them close-on-exec before anything runs.
fn close_inherited_descriptors() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|&fd| fd > 2).collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number only changes its flags; a stale number
        // (the read_dir handle itself, already closed) just fails with EBADF.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

fn main() -> ExitCode {
    close_inherited_descriptors();
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            ExitCode::from(common::cli::exit::ERROR as u8)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Up { nodes, no_qdevice, nas: _, no_nas, no_sim } => {
            let shape = LabShape { nodes, qdevice: !no_qdevice, nas: !no_nas, sim: !no_sim };
            let lab_dir = lab::paths::lab_dir()?;
            let r = lab::up::up(&lab_dir, shape, cli.verbose > 0)?;
            let names: Vec<&str> = r.state.hosts.iter().map(|h| h.spec.name.as_str()).collect();
            println!("lab up in {} ms: {}", r.total_ms, names.join(", "));
            for (what, p) in lab::up::summary(&r.state) {
                println!("  {what:<12} {}", p.display());
            }
            println!("  next: source {}/secrets.env; lab status; lab ssh pve-node1", r.state.lab_dir.display());
        }
        Cmd::Down => {
            let r = lab::down::down()?;
            if !r.had_lab {
                println!("no lab was running; the machine is clean (verified)");
            } else {
                println!(
                    "lab down in {} ms: stopped {}; verified: no lab-* links, namespaces, mounts or processes remain",
                    r.ms,
                    if r.stopped.is_empty() { "no running hosts".to_string() } else { r.stopped.join(", ") }
                );
                for k in &r.killed {
                    println!("  killed {k} (it was inside a lab namespace)");
                }
            }
        }
        Cmd::Status { json } => {
            let s = lab::status::collect()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", lab::status::render(&s));
            }
        }
        Cmd::Exec { host, cmd } => {
            lab::prereq::require_root("lab exec")?;
            return Err(lab::exec::replace_process(lab::exec::exec_command(&host, &cmd)?));
        }
        Cmd::Ssh { host, cmd } => {
            return Err(lab::exec::replace_process(lab::exec::ssh_command(&host, &cmd)?));
        }
        Cmd::Fault { fault } => {
            let f = match fault {
                FaultCmd::LinkDown { host, link } => Fault::LinkDown(host, link),
                FaultCmd::LinkUp { host, link } => Fault::LinkUp(host, link),
                FaultCmd::Stop { host } => Fault::Stop(host),
                FaultCmd::Start { host } => Fault::Start(host),
                FaultCmd::Crash { host } => Fault::Crash(host),
                FaultCmd::Wipe { host } => Fault::Wipe(host),
            };
            for line in lab::fault::apply(&f)? {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
