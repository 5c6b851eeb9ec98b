//! `lab down`: remove everything, then prove it (issue 3: "leaves nothing behind").
//!
//! Hosts get TERM on PID 1 (the kernel then kills their PID namespaces) with a zombie-aware
//! wait (gotcha 9). Whatever still runs inside a lab namespace (an `ip netns exec` shell, a
//! stray `nsenter`) is killed, since it would keep the namespace and its veths alive
//! (gotcha 18). Then links, namespaces and the runtime tmpfs go, and the machine is scanned.

use crate::network;
use crate::paths::{Runtime, STATE_LOCK};
use crate::prereq;
use crate::remnants;
use crate::state::LabState;
use crate::sys::{self, FileLock};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct DownReport {
    /// Hosts that were running.
    pub stopped: Vec<String>,
    /// Other processes killed because they were inside a lab namespace.
    pub killed: Vec<String>,
    /// What is still there after teardown (empty = clean).
    pub remnants: Vec<String>,
    pub ms: u128,
    pub had_lab: bool,
}

pub fn down() -> Result<DownReport> {
    prereq::require_root("lab down")?;
    let rt = Runtime::default();
    let _lock = FileLock::exclusive(Path::new(STATE_LOCK), "lab: waiting for another lab command to finish …")?;
    let r = teardown(&rt, true)?;
    if !r.remnants.is_empty() {
        bail!(
            "lab down could not remove everything ({} ms):\n  {}\nsee which process holds it (fuser -vm, ls -l /proc/*/ns) and run `lab down` again",
            r.ms,
            r.remnants.join("\n  ")
        );
    }
    Ok(r)
}

/// The teardown itself (also used by a failed `lab up`, which already holds the lock).
pub fn teardown(rt: &Runtime, remove_state_copy: bool) -> Result<DownReport> {
    let t0 = Instant::now();
    let mut rep = DownReport::default();
    let state = LabState::load(rt).ok().flatten();
    rep.had_lab = state.is_some() || !remnants::find().is_empty();

    // namespaces to hunt in, recorded while their names still exist
    let mut ns: Vec<(&'static str, u64)> =
        network::lab_netns().iter().filter_map(|n| sys::netns_inode(n)).map(|i| ("net", i)).collect();

    // 1. hosts: TERM all PID 1s at once, then wait for all
    let mut waits = Vec::new();
    if let Some(st) = &state {
        for h in &st.hosts {
            if let Some(p) = h.running_pid1(rt) {
                if let Some(i) = sys::ns_inode(p, "pid") {
                    ns.push(("pid", i));
                }
                sys::kill(p, libc::SIGTERM);
                waits.push(p);
                rep.stopped.push(h.spec.name.clone());
            }
            if let Some(u) = h.unshare_pid.filter(|&u| sys::cmdline(u).contains(&rt.init_script().display().to_string())) {
                waits.push(u);
            }
        }
    }
    // host-init processes the state does not know (a killed `lab up`)
    for p in sys::all_pids() {
        let cmd = sys::cmdline(p);
        if cmd.contains(&rt.init_script().display().to_string()) && sys::alive(p) && !waits.contains(&p) {
            if cmd.starts_with("/bin/bash") {
                sys::kill(p, libc::SIGTERM);
            }
            waits.push(p);
        }
    }
    let left = sys::wait_gone(&waits, Duration::from_secs(2));
    for &p in &left {
        sys::kill(p, libc::SIGKILL);
    }
    let still = sys::wait_gone(&left, Duration::from_secs(5));
    if !still.is_empty() {
        bail!("host processes {still:?} survive SIGKILL");
    }

    // 2. anything else inside a lab namespace (gotcha 18)
    let me = std::process::id() as i32;
    let mut stray = Vec::new();
    for p in sys::all_pids() {
        if p != me && sys::in_any_ns(p, &ns) && sys::alive(p) {
            rep.killed.push(format!("{p} ({})", sys::cmdline(p)));
            sys::kill(p, libc::SIGKILL);
            stray.push(p);
        }
    }
    sys::wait_gone(&stray, Duration::from_secs(5));

    // 3. network, runtime tmpfs
    network::teardown();
    unmount_runtime(rt)?;
    if remove_state_copy {
        if let Some(st) = &state {
            let _ = std::fs::remove_file(st.lab_dir.join("state.json"));
        }
    }

    // 4. verify; links of a namespace being destroyed may take a moment to go
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        rep.remnants = remnants::find_with(&ns);
        if rep.remnants.is_empty() || Instant::now() >= deadline {
            break;
        }
        network::teardown();
        std::thread::sleep(Duration::from_millis(20));
    }
    rep.ms = sys::ms(t0);
    Ok(rep)
}

/// Unmount the runtime tmpfs (and anything mounted below it) if mounted.
fn unmount_runtime(rt: &Runtime) -> Result<()> {
    let target = rt.root.to_str().context("runtime dir is not UTF-8")?;
    let mine = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mine
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == target || m.starts_with(&format!("{target}/")))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let c = std::ffi::CString::new(m)?;
        // SAFETY: valid C string.
        if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                continue; // already gone (stacked duplicate)
            }
            let holders = holders_of(target);
            bail!(
                "unmounting {m}: {e}{}",
                if holders.is_empty() { String::new() } else { format!("; in use by {}", holders.join(", ")) }
            );
        }
    }
    Ok(())
}

/// Processes whose cwd, root or open files are under `dir` (why an unmount is busy).
fn holders_of(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in sys::all_pids() {
        let base = format!("/proc/{p}");
        let mut links: Vec<std::path::PathBuf> =
            ["cwd", "root"].iter().filter_map(|l| std::fs::read_link(format!("{base}/{l}")).ok()).collect();
        if let Ok(rd) = std::fs::read_dir(format!("{base}/fd")) {
            links.extend(rd.flatten().filter_map(|e| std::fs::read_link(e.path()).ok()));
        }
        if links.iter().any(|l| l.starts_with(dir)) {
            out.push(format!("{p} ({})", sys::comm(p)));
        }
    }
    out
}
