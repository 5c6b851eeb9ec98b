//! Thin system helpers: commands with located errors, `ip -batch`, namespaces, processes,
//! locks, randomness. Everything the lab does to the machine goes through here.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// PATH used for everything the lab runs, in the machine and in hosts.
pub const SANE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `exit 3` / `killed by signal 9`.
pub fn describe_status(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

/// Run to completion with stdin closed; a failure names `what` and quotes stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot start {}", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        bail!("{what}: {} ({}): {}", cmd.get_program().to_string_lossy(), describe_status(out.status), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Find a program in PATH (plus the sbin dirs, which a non-login root shell may lack).
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return p.is_file().then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(SANE_PATH.split(':'))
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// Run many `ip` commands in one process (`ip -batch -`): one fork instead of dozens.
/// With `force`, ip carries on after a failing line and the error is ignored (teardown).
pub fn ip_batch(netns: Option<&str>, force: bool, lines: &[String], what: &str) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("{what}: cannot start ip (is iproute2 installed?)"))?;
    let mut text = lines.join("\n");
    text.push('\n');
    child.stdin.take().expect("piped").write_all(text.as_bytes()).with_context(|| format!("{what}: writing to ip -batch"))?;
    let out = child.wait_with_output()?;
    if !out.status.success() && !force {
        bail!("{what}: ip -batch failed ({}): {}", describe_status(out.status), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

pub fn netns_path(netns: &str) -> PathBuf {
    Path::new("/run/netns").join(netns)
}

/// Run `f` on a thread that has joined network namespace `netns` (only that thread moves;
/// processes it spawns start in that namespace too).
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let path = netns_path(netns);
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            let fd = File::open(&path).with_context(|| format!("opening network namespace {}", path.display()))?;
            // SAFETY: fd is a valid nsfs file; CLONE_NEWNET only changes this thread.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| format!("entering network namespace {netns}"));
            }
            f()
        })
        .join()
        .map_err(|_| anyhow!("thread in network namespace {netns} panicked"))?
    })
}

/// Write a sysctl through /proc/sys (of the calling thread's network namespace for net.*).
pub fn sysctl(key_path: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys").join(key_path);
    std::fs::write(&p, value).with_context(|| format!("setting sysctl {}", p.display()))
}

// ---- processes -------------------------------------------------------------------------

/// Process state letter from /proc/PID/stat (`R`, `S`, `Z` …); None when gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: the state follows the *last* ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// Alive and not a zombie: a zombie only waits for its parent (lab-feasibility.md gotcha 9).
pub fn alive(pid: i32) -> bool {
    matches!(proc_state(pid), Some(c) if c != 'Z' && c != 'X')
}

/// Poll until none of `pids` is alive; returns those still alive at the deadline.
pub fn wait_gone(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: plain syscall; pid > 0 is enforced so we never signal a process group.
    pid > 0 && unsafe { libc::kill(pid, sig) } == 0
}

/// Inode of a process's namespace (`kind` = `pid`, `net`, `mnt` …): equal inodes, same namespace.
pub fn ns_inode(pid: i32, kind: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}")).ok().map(|m| m.ino())
}

/// Inode of a named network namespace.
pub fn netns_inode(netns: &str) -> Option<u64> {
    std::fs::metadata(netns_path(netns)).ok().map(|m| m.ino())
}

/// Does `pid` live in any of the given namespaces (`(kind, inode)` pairs)? Reads each kind's
/// link once, however many namespaces are asked about.
pub fn in_any_ns(pid: i32, namespaces: &[(&str, u64)]) -> bool {
    let mut checked: Vec<(&str, Option<u64>)> = Vec::new();
    namespaces.iter().any(|(kind, ino)| {
        let have = match checked.iter().find(|(k, _)| k == kind) {
            Some((_, v)) => *v,
            None => {
                let v = ns_inode(pid, kind);
                checked.push((kind, v));
                v
            }
        };
        have == Some(*ino)
    })
}

/// Every process id on the machine.
pub fn all_pids() -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// Live processes whose `kind` namespace is `inode`.
pub fn pids_in_ns(kind: &str, inode: u64) -> Vec<i32> {
    all_pids().into_iter().filter(|&p| ns_inode(p, kind) == Some(inode) && alive(p)).collect()
}

pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Command line with NULs as spaces.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

/// Children of `pid` (needs CONFIG_PROC_CHILDREN; falls back to scanning PPids).
pub fn children(pid: i32) -> Vec<i32> {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return s.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    }
    all_pids()
        .into_iter()
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).ok().and_then(|s| {
                let rest = s[s.rfind(')')? + 1..].to_string();
                rest.split_whitespace().nth(1)?.parse::<i32>().ok()
            }) == Some(pid)
        })
        .collect()
}

/// Proportional set size of a process in KiB (0 when unreadable).
pub fn pss_kib(pid: i32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { return 0 };
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ---- files, locks, pipes ----------------------------------------------------------------

/// An exclusive `flock`, released on drop.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Take the lock, blocking; `on_wait` is printed (stderr) if someone else holds it.
    pub fn exclusive(path: &Path, on_wait: &str) -> Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("{on_wait}");
                file.lock().with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(FileLock { _file: file })
    }
}

/// Write a file atomically (temp file + rename) with `mode`.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp{}", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    // the umask may have narrowed the mode at creation; set it exactly
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    f.write_all(content).with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Read one line from `fd` within `timeout`; None on EOF or timeout (distinguished by the flag).
pub fn read_line_timeout(fd: &OwnedFd, timeout: Duration) -> Result<(Option<String>, bool)> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut file = File::from(fd.try_clone()?);
    loop {
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            return Ok((Some(String::from_utf8_lossy(&buf[..nl]).into_owned()), false));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok((None, true));
        }
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("waiting on a pipe");
        }
        if r == 0 {
            continue;
        }
        let mut chunk = [0u8; 512];
        let n = file.read(&mut chunk)?;
        if n == 0 {
            let rest = String::from_utf8_lossy(&buf).into_owned();
            return Ok(((!rest.is_empty()).then_some(rest), false));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ---- randomness -------------------------------------------------------------------------

pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).context("reading /dev/urandom")?;
    Ok(buf)
}

pub fn random_hex(bytes: usize) -> Result<String> {
    Ok(random_bytes(bytes)?.iter().map(|b| format!("{b:02x}")).collect())
}

/// A password of `len` characters from [A-Za-z0-9] (no quoting trouble in env files).
pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(64)? {
            // 248 = 4 * 62: rejection sampling keeps the distribution uniform.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// Milliseconds since `t`, for `-v` timings.
pub fn ms(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_alphanumeric_and_random() {
        let a = random_password(24).unwrap();
        let b = random_password(24).unwrap();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn proc_state_of_self_and_missing() {
        assert!(alive(std::process::id() as i32));
        assert_eq!(proc_state(i32::MAX), None);
    }

    #[test]
    fn atomic_write_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.env");
        write_atomic(&p, b"x\n", 0o600).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x\n");
    }
}
