//! `pve-sim`: the Proxmox VE simulator installed into lab hosts (issue 3, BRIEFING "pve-sim
//! installation"). A multi-call binary: the applet is the basename of argv[0] (`pvecm`, `pvesh`, …,
//! via symlinks in /usr/local/bin) or the first argument (`pve-sim pvecm status`).

use anyhow::Result;
use pve_sim::{applets, cli, daemons, labinit};

/// Applets per role, one per line for the lab's symlinks (BRIEFING).
fn applet_list(role: &str) -> Option<&'static [&'static str]> {
    match role {
        "pve" => Some(&[
            "pvecm", "pvesh", "pvesm", "pvesr", "pvenode", "qm", "zfs", "zpool", "systemctl", "apt-get", "pveversion", "hostnamectl",
        ]),
        "pi" => Some(&["systemctl", "apt-get", "hostnamectl"]),
        "nas" => Some(&["systemctl"]),
        _ => None,
    }
}

fn dispatch(applet: &str, args: &[String]) -> Result<i32> {
    match applet {
        "pvecm" => applets::pvecm::main(args),
        "pvesh" => applets::pvesh::main(args),
        "pvesm" => applets::pvesm::main(args),
        "pvesr" => applets::pvesr::main(args),
        "pvenode" => applets::pvenode::main(args),
        "qm" => applets::qm::main(args),
        "zfs" => applets::zfs::zfs_main(args),
        "zpool" => applets::zfs::zpool_main(args),
        "systemctl" => applets::systemctl::main(args),
        "apt-get" | "apt" => applets::aptget::main(args),
        "pveversion" => applets::misc::pveversion(args),
        "hostnamectl" => applets::misc::hostnamectl(args),
        "lab-init" => labinit::main(args),
        "lab-daemons" => daemons::main(args),
        other => {
            eprintln!("pve-sim: unknown applet '{other}' (try: pve-sim --applets pve)");
            Ok(127)
        }
    }
}

fn main() {
    // Die quietly on a closed pipe (`pvesh … | head`) like the Perl tools, instead of panicking.
    // SAFETY: resetting a signal disposition before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args().collect();
    let base = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let (applet, rest): (String, &[String]) = if base == "pve-sim" || base.starts_with("pve_sim") || base.starts_with("pve-sim-") {
        match argv.get(1).map(String::as_str) {
            Some("--applets") => {
                let role = argv.get(2).map(String::as_str).unwrap_or("");
                match applet_list(role) {
                    Some(list) => {
                        for a in list {
                            println!("{a}");
                        }
                        std::process::exit(0);
                    }
                    None => {
                        eprintln!("pve-sim: --applets needs a role: pve, pi or nas");
                        std::process::exit(2);
                    }
                }
            }
            Some(a) => (a.to_string(), &argv[2..]),
            None => {
                eprintln!("usage: pve-sim APPLET [ARGS…] | pve-sim --applets pve|pi|nas");
                std::process::exit(2);
            }
        }
    } else {
        (base, &argv[1..])
    };
    let code = match dispatch(&applet, rest) {
        Ok(c) => c,
        Err(e) => cli::report(&e),
    };
    std::process::exit(code);
}
