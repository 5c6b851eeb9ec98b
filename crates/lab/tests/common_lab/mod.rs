//! Helpers shared by the lab's integration tests: independent checks of the machine that do
//! not reuse the lab crate's own remnant scanner, and small polls with deadlines.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Everything lab-like on the machine, found with plain std calls.
pub fn machine_leftovers() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/class/net").unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("lab-") {
            out.push(format!("link {n}"));
        }
    }
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("lab-") {
                out.push(format!("netns {n}"));
            }
        }
    }
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(mi) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
            for l in mi.lines() {
                if l.contains("/run/homelab-lab") || l.contains("/run/netns/lab-") || l.contains(" overlay lab-") {
                    out.push(format!("mount in pid {pid}: {l}"));
                }
            }
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let zombie = stat.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')).unwrap_or(true);
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !zombie && String::from_utf8_lossy(&cmd).contains("host-init.sh") {
                out.push(format!("process {pid}"));
            }
        }
    }
    out
}

pub fn tcp_open(addr: &str) -> bool {
    let sa: SocketAddr = format!("{addr}:22").parse().unwrap();
    TcpStream::connect_timeout(&sa, Duration::from_millis(300)).is_ok()
}

/// Poll `cond` until true; panic with `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
