//! Thin wrappers around the real corosync tools (the lab runs real corosync; pve-cli.md §3).

use std::time::Duration;

use crate::sys;

/// Exit code of `corosync-quorumtool -s`: 0 quorate, 2 not quorate, 1 not running/error
/// (pve-cli.md §3.1). `None` when the tool cannot be run at all.
pub fn quorumtool_code() -> Option<i32> {
    if !sys::is_real_root() {
        // Test roots have no corosync; `PVE_SIM_QUORATE=0` simulates an inquorate node.
        return Some(if std::env::var("PVE_SIM_QUORATE").as_deref() == Ok("0") { 2 } else { 0 });
    }
    sys::run("corosync-quorumtool", &["-s"]).ok().and_then(|o| o.status.code())
}

pub fn quorate() -> bool {
    quorumtool_code() == Some(0)
}

/// corosync's IPC answers (gotcha 4 in lab-feasibility.md: the init script returns before cmap is up).
pub fn cmap_ready() -> bool {
    if !sys::is_real_root() {
        return false;
    }
    sys::run("corosync-cmapctl", &["-g", "totem.cluster_name"]).map(|o| o.status.success()).unwrap_or(false)
}

/// Is a corosync process answering on this host? (`corosync-quorumtool -l` succeeds, the check
/// `assert_joinable` uses, pve-cli.md §2.3.)
pub fn running() -> bool {
    if !sys::is_real_root() {
        return false;
    }
    sys::run("corosync-quorumtool", &["-l"]).map(|o| o.status.success()).unwrap_or(false)
}

pub fn wait_cmap(timeout: Duration) -> bool {
    sys::wait_until(timeout, Duration::from_millis(50), cmap_ready)
}

/// Node ids currently joined in the membership (`runtime.members.<id>.status = joined`).
pub fn online_nodeids() -> Vec<u32> {
    if !sys::is_real_root() {
        return Vec::new();
    }
    let Ok(out) = sys::run("corosync-cmapctl", &["-b", "runtime.members"]) else { return Vec::new() };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ids = Vec::new();
    for line in text.lines() {
        // runtime.members.1.status (str) = joined
        let Some(rest) = line.strip_prefix("runtime.members.") else { continue };
        let Some((id, tail)) = rest.split_once('.') else { continue };
        if tail.starts_with("status ") && tail.trim_end().ends_with("= joined") {
            if let Ok(id) = id.parse() {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    ids
}

/// `corosync-cfgtool -R` (cluster-wide reload). Returns (exit code, combined output).
pub fn cfgtool_reload() -> (i32, String) {
    if !sys::is_real_root() {
        return (0, "Reloading corosync.conf...\nDone\n".into());
    }
    match sys::run("corosync-cfgtool", &["-R"]) {
        Ok(o) => {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.code().unwrap_or(1), s)
        }
        Err(e) => (1, format!("{e:#}\n")),
    }
}
