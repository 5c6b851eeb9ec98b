//! Starting and stopping one host process: `unshare … host-init.sh` inside the host's netns.
//!
//! The host is `setsid` + `setns(netns)` + `unshare --mount --uts --ipc --pid --fork
//! --kill-child --propagation private` (lab-feasibility.md "Host process"), done with one
//! process instead of the recipe's nsenter+unshare pair. Its console is a file in the runtime
//! dir; readiness comes over a pipe (fd 3), so nothing polls a log.

use crate::paths::Runtime;
use crate::state::is_host_init;
use crate::sys;
use crate::topology::HostSpec;
use anyhow::{bail, Context, Result};
use common::secret::Secret;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a host may take from process start to sshd running (first boot includes pve-sim's
/// lab-init). Generous: it only matters when something is broken, and then we say what.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct BootRequest<'a> {
    pub rt: &'a Runtime,
    pub spec: &'a HostSpec,
    pub sim: bool,
    pub backplane: bool,
    pub domain: &'a str,
    pub root_password: Option<&'a Secret>,
}

#[derive(Debug, Clone, Copy)]
pub struct Booted {
    pub pid1: i32,
    pub unshare_pid: i32,
    /// Process start until host-init reported sshd running.
    pub ready_ms: u128,
    /// …until sshd accepted a TCP connection on the mgmt address.
    pub accepting_ms: u128,
}

/// Last lines of a host's console, for error messages.
pub fn console_tail(rt: &Runtime, host: &str, lines: usize) -> String {
    let text = std::fs::read_to_string(rt.console(host)).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n    ");
    format!("console {} (last lines):\n    {}", rt.console(host).display(), if tail.is_empty() { "(empty)" } else { &tail })
}

/// Start the host and wait until its sshd accepts connections.
pub fn boot(req: &BootRequest) -> Result<Booted> {
    let t0 = Instant::now();
    let name = &req.spec.name;
    let host_dir = req.rt.host_dir(name);
    let mut console = OpenOptions::new()
        .create(true)
        .append(true)
        .open(req.rt.console(name))
        .with_context(|| format!("{name}: opening its console log"))?;
    let _ = writeln!(console, "---- lab: starting {name} at unix time {}", unix_now());
    let netns = File::open(sys::netns_path(&req.spec.netns))
        .with_context(|| format!("{name}: its network namespace {} is missing", req.spec.netns))?;
    let (ready_r, ready_w) = sys::pipe()?;
    let backplane = if req.backplane { req.rt.backplane().display().to_string() } else { "-".into() };
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child", "--propagation", "private", "--"])
        .arg("/bin/bash")
        .arg(req.rt.init_script())
        .arg(name)
        .arg(&host_dir)
        .arg(req.spec.role.as_str())
        .arg(if req.sim { "1" } else { "0" })
        .arg(&backplane)
        .arg(req.domain)
        .arg(&req.spec.mgmt_ip)
        .arg(&req.spec.prod_ip)
        .env_clear()
        .env("PATH", sys::SANE_PATH)
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(console.try_clone()?)
        .stderr(console);
    let (ns_fd, w_fd) = (netns.as_raw_fd(), ready_w.as_raw_fd());
    // SAFETY: only async-signal-safe calls (setsid, setns, dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if w_fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(w_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // nothing else of the caller's may live on in the host: e.g. a script's
            // `exec 9>/tmp/homelab-lab.lock; flock 9` would otherwise be held by every host
            // process. Marked close-on-exec (not closed), so std's exec-error pipe still works.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            libc::syscall(libc::SYS_close_range, 4 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_context(|| format!("{name}: cannot start unshare (util-linux)"))?;
    drop(ready_w);
    drop(netns);
    {
        let mut stdin = child.stdin.take().expect("piped");
        let line = req.root_password.map(|s| s.expose().to_string()).unwrap_or_default();
        // a host that died at once closes the pipe: the readiness read below says why
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
    }
    let unshare_pid = child.id() as i32;
    let fail = |child: &mut std::process::Child, why: String| -> anyhow::Error {
        let _ = child.kill();
        let _ = child.wait();
        anyhow::anyhow!("{name}: {why}\n  {}", console_tail(req.rt, name, 15))
    };
    let (line, timed_out) = sys::read_line_timeout(&ready_r, BOOT_TIMEOUT)?;
    match line.as_deref() {
        Some("ready") => {}
        Some(l) if l.starts_with("fail ") => return Err(fail(&mut child, format!("boot failed: {}", &l[5..]))),
        _ if timed_out => return Err(fail(&mut child, format!("not ready after {} s", BOOT_TIMEOUT.as_secs()))),
        _ => return Err(fail(&mut child, "host-init exited during boot".into())),
    }
    let ready_ms = sys::ms(t0);
    // PID 1 is unshare's only child
    let pid1 = sys::children(unshare_pid).into_iter().next();
    let Some(pid1) = pid1 else { return Err(fail(&mut child, "PID 1 not found below unshare".into())) };
    // the std Child is dropped without wait: the host outlives this command by design
    drop(child);
    wait_tcp(&req.spec.mgmt_ip, 22, Duration::from_secs(10)).with_context(|| format!("{name}: sshd"))?;
    Ok(Booted { pid1, unshare_pid, ready_ms, accepting_ms: sys::ms(t0) })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Poll until `addr:port` accepts a TCP connection.
pub fn wait_tcp(addr: &str, port: u16, timeout: Duration) -> Result<()> {
    let sa: SocketAddr = format!("{addr}:{port}").parse()?;
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&sa, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                bail!("{sa} does not accept connections after {} s: {e}", timeout.as_secs())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Power off: TERM to PID 1 (its trap exits; the kernel kills the rest of the PID namespace),
/// zombie-aware wait (gotcha 9), KILL after `grace`.
pub fn stop_hard(rt: &Runtime, name: &str, pid1: Option<i32>, unshare_pid: Option<i32>, grace: Duration) -> Result<()> {
    let mut pids = Vec::new();
    if let Some(p) = pid1.filter(|&p| is_host_init(p, rt, name)) {
        sys::kill(p, libc::SIGTERM);
        pids.push(p);
    }
    if let Some(u) = unshare_pid.filter(|&u| sys::cmdline(u).contains(&rt.init_script().display().to_string())) {
        pids.push(u);
    }
    let left = sys::wait_gone(&pids, grace);
    if !left.is_empty() {
        for &p in &left {
            sys::kill(p, libc::SIGKILL);
        }
        let still = sys::wait_gone(&left, Duration::from_secs(5));
        if !still.is_empty() {
            bail!("{name}: processes {still:?} survive SIGKILL (stuck in the kernel?)");
        }
    }
    Ok(())
}

/// A clean shutdown: cluster services stopped by their init scripts (so corosync leaves the
/// membership properly), then TERM to everything else, then PID 1.
pub fn stop_clean(rt: &Runtime, spec: &HostSpec, pid1: i32, unshare_pid: Option<i32>) -> Result<Vec<String>> {
    let mut log = Vec::new();
    let script = "for s in corosync-qdevice corosync corosync-qnetd; do \
        if [ -x /etc/init.d/$s ] && /etc/init.d/$s status >/dev/null 2>&1; then \
        service $s stop >/dev/null 2>&1 && echo \"stopped $s\" || echo \"stopping $s failed\"; fi; done";
    let out = Command::new("nsenter")
        .args(["-t", &pid1.to_string(), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"])
        .args(["env", "-i", &format!("PATH={}", sys::SANE_PATH), "HOME=/root", "/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{}: entering the host to stop its services", spec.name))?;
    log.extend(String::from_utf8_lossy(&out.stdout).lines().map(|l| format!("{}: {l}", spec.name)));
    if let Some(ns) = sys::ns_inode(pid1, "pid") {
        let others: Vec<i32> = sys::pids_in_ns("pid", ns).into_iter().filter(|&p| p != pid1).collect();
        for &p in &others {
            sys::kill(p, libc::SIGTERM);
        }
        let left = sys::wait_gone(&others, Duration::from_secs(5));
        if !left.is_empty() {
            log.push(format!("{}: {} process(es) ignored TERM for 5 s; they die with PID 1", spec.name, left.len()));
        }
    }
    stop_hard(rt, &spec.name, Some(pid1), unshare_pid, Duration::from_secs(2))?;
    Ok(log)
}

/// Daemons a crash kills (comm names, truncated to 15 characters by the kernel).
const CRASH_DAEMONS: [&str; 4] = ["corosync", "corosync-qdevice", "corosync-qnetd", "sshd"];

/// `lab fault crash`: SIGKILL the host's daemons, PID 1 survives. Returns what was killed.
pub fn crash(spec: &HostSpec, pid1: i32) -> Result<Vec<String>> {
    let ns = sys::ns_inode(pid1, "pid").with_context(|| format!("{}: PID 1 vanished", spec.name))?;
    let mut killed = Vec::new();
    let mut pids = Vec::new();
    for p in sys::pids_in_ns("pid", ns) {
        let c = sys::comm(p);
        if p != pid1 && CRASH_DAEMONS.iter().any(|d| d.get(..15).unwrap_or(d) == c) {
            sys::kill(p, libc::SIGKILL);
            killed.push(format!("{c}[{p}]"));
            pids.push(p);
        }
    }
    let left = sys::wait_gone(&pids, Duration::from_secs(5));
    if !left.is_empty() {
        bail!("{}: processes {left:?} survived SIGKILL", spec.name);
    }
    Ok(killed)
}

/// Processes of a running host and their summed PSS (KiB).
pub fn usage(pid1: i32) -> (usize, u64) {
    match sys::ns_inode(pid1, "pid") {
        Some(ns) => {
            let pids = sys::pids_in_ns("pid", ns);
            (pids.len(), pids.iter().map(|&p| sys::pss_kib(p)).sum())
        }
        None => (0, 0),
    }
}

/// Is an sshd running in the host (crash kills it)?
pub fn has_sshd(pid1: i32) -> bool {
    sys::ns_inode(pid1, "pid")
        .map(|ns| sys::pids_in_ns("pid", ns).into_iter().any(|p| sys::comm(p) == "sshd"))
        .unwrap_or(false)
}
