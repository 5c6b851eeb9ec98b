//! Small extras: `pveversion` (tools detect PVE with it) and `hostnamectl` (no systemd in the lab).

use anyhow::Result;

use crate::sys;

/// `pveversion` (pve-manager): `pve-manager/<version>/<repoid> (running kernel: <kernel>)`.
pub fn pveversion(args: &[String]) -> Result<i32> {
    let kernel = "6.17.2-1-pve";
    if args.iter().any(|a| a == "-v" || a == "--verbose") {
        println!("proxmox-ve: 9.1.0 (running kernel: {kernel})");
        println!("pve-manager: 9.1.1 (running version: 9.1.1/3d8b2cbd)");
        println!("pve-cluster: 9.1.6");
        println!("libpve-storage-perl: 9.1.7");
        println!("corosync: 3.1.9-pve2");
        println!("zfsutils-linux: 2.3.4-pve1");
    } else {
        println!("pve-manager/9.1.1/3d8b2cbd (running kernel: {kernel})");
    }
    Ok(0)
}

/// `hostnamectl [status] | set-hostname NAME | hostname`.
pub fn hostnamectl(args: &[String]) -> Result<i32> {
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    match words.as_slice() {
        [] | ["status"] => {
            let h = sys::hostname();
            println!(" Static hostname: {h}");
            println!("Operating System: {}", os_pretty());
            Ok(0)
        }
        ["hostname"] => {
            println!("{}", sys::hostname());
            Ok(0)
        }
        ["set-hostname", name] | ["hostname", name] => {
            sys::write_str(&sys::p("/etc/hostname"), &format!("{name}\n"), 0o644)?;
            if sys::is_real_root() {
                let _ = sys::run("hostname", &[name]);
            }
            Ok(0)
        }
        _ => {
            eprintln!("Unknown command verb '{}'.", words[0]);
            Ok(1)
        }
    }
}

fn os_pretty() -> String {
    sys::read_opt(&sys::p("/etc/os-release"))
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into())
}
