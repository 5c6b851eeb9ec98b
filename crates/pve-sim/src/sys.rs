//! Small system helpers: the (optionally re-rooted) file system, processes, locks, time.
//!
//! Every path the simulator touches goes through [`p`], so tests can run applets against a
//! temporary directory (`PVE_SIM_ROOT=/tmp/x`) instead of a lab host. Real tools (corosync, ssh,
//! openssl) are only ever run inside lab hosts.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// Root of the simulated file system (`/` in lab hosts).
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| std::env::var_os("PVE_SIM_ROOT").map(PathBuf::from).unwrap_or_else(|| "/".into()))
}

/// True when running against the real `/` (inside a lab host), i.e. real tools may be used.
pub fn is_real_root() -> bool {
    root() == Path::new("/")
}

/// Map an absolute path into the simulated root.
pub fn p(path: &str) -> PathBuf {
    root().join(path.trim_start_matches('/'))
}

/// Short host name (PVE's `nodename()`): `$PVE_SIM_HOSTNAME`, else the kernel's UTS name
/// (real root) or `<root>/etc/hostname` (test root).
pub fn hostname() -> String {
    if let Ok(h) = std::env::var("PVE_SIM_HOSTNAME") {
        return h;
    }
    let raw = if is_real_root() {
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
    } else {
        fs::read_to_string(p("/etc/hostname")).unwrap_or_default()
    };
    raw.trim().split('.').next().unwrap_or("localhost").to_string()
}

pub fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("unable to open file '{}'", path.display()))
}

pub fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Write via temp file + rename, with `mode`, creating parent directories.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().ok_or_else(|| anyhow!("no parent directory for {}", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("unable to create directory {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("unable to create file '{}'", tmp.display()))?;
        f.write_all(content).with_context(|| format!("unable to write '{}'", tmp.display()))?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("unable to rename '{}' to '{}'", tmp.display(), path.display()))
}

pub fn write_str(path: &Path, content: &str, mode: u32) -> Result<()> {
    write_atomic(path, content.as_bytes(), mode)
}

pub fn mkdir_p(path: &Path, mode: u32) -> Result<()> {
    if !path.is_dir() {
        fs::create_dir_all(path).with_context(|| format!("unable to create directory '{}'", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Replace `link` by a symlink to `target` atomically (new link + rename).
pub fn symlink_replace(target: &Path, link: &Path) -> Result<()> {
    if let Some(d) = link.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = link.with_file_name(format!(
        ".{}.lnk.{}",
        link.file_name().and_then(|n| n.to_str()).unwrap_or("l"),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("unable to create symlink {} -> {}", tmp.display(), target.display()))?;
    // rename(2) cannot replace a directory; a real directory at `link` is moved aside first.
    if link.is_dir() && !link.is_symlink() {
        let aside = link.with_file_name(format!(
            "{}.pve-sim-old.{}",
            link.file_name().and_then(|n| n.to_str()).unwrap_or("d"),
            std::process::id()
        ));
        fs::rename(link, &aside)?;
    }
    fs::rename(&tmp, link).with_context(|| format!("unable to replace {}", link.display()))
}

/// Run a command, capturing output. Spawn failure is an error naming the program.
pub fn run(prog: &str, args: &[&str]) -> Result<Output> {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("unable to run '{prog}'"))
}

/// Run a command with `input` on stdin, capturing output.
pub fn run_input(prog: &str, args: &[&str], input: &[u8]) -> Result<Output> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("unable to run '{prog}'"))?;
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let _ = stdin.write_all(input);
    }
    Ok(child.wait_with_output()?)
}

/// `run` that fails like PVE's `run_command`: `command '<cmd>' failed: exit code N`.
pub fn run_checked(prog: &str, args: &[&str]) -> Result<Output> {
    let out = run(prog, args)?;
    if !out.status.success() {
        return Err(anyhow!(
            "command '{}' failed: exit code {}",
            shell_join(prog, args),
            out.status.code().unwrap_or(-1)
        ));
    }
    Ok(out)
}

pub fn shell_join(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Poll `cond` every `step` until true or `timeout`; returns whether it became true.
pub fn wait_until(timeout: Duration, step: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// An exclusive `flock(2)` held until dropped.
pub struct FileLock {
    _file: fs::File,
}

/// Take an exclusive lock on `path` (created if needed), waiting up to `timeout`.
pub fn lock(path: &Path, timeout: Duration) -> Result<FileLock> {
    if let Some(d) = path.parent() {
        // /var/lock → /run/lock dangles on a fresh /run tmpfs (systemd-tmpfiles would create it).
        if let Ok(target) = fs::read_link(d) {
            let abs = if target.is_absolute() { p(&target.to_string_lossy()) } else { d.parent().unwrap_or(d).join(target) };
            fs::create_dir_all(abs)?;
        }
        fs::create_dir_all(d).with_context(|| format!("unable to create lock directory '{}'", d.display()))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("unable to open lock file '{}'", path.display()))?;
    let fd = file.as_raw_fd();
    let ok = wait_until(timeout, Duration::from_millis(20), || {
        // SAFETY: flock on a valid, owned file descriptor.
        unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0 }
    });
    if !ok {
        return Err(anyhow!("got lock request timeout ({})", path.display()));
    }
    Ok(FileLock { _file: file })
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Broken-down local time (uses the host's TZ like the Perl tools do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    pub year: i32,
    pub mon: u32, // 1-12
    pub mday: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub wday: u32, // 0 = Sunday
}

extern "C" {
    // Not bound by the libc crate; re-reads $TZ (glibc's localtime_r only initialises it once).
    fn tzset();
}

pub fn localtime(t: i64) -> Tm {
    // SAFETY: localtime_r writes into the provided struct only; tzset has no arguments.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt: libc::time_t = t as libc::time_t;
    unsafe {
        tzset();
        libc::localtime_r(&tt, &mut tm);
    }
    Tm {
        year: tm.tm_year + 1900,
        mon: (tm.tm_mon + 1) as u32,
        mday: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
        wday: tm.tm_wday as u32,
    }
}

/// `strftime("%Y-%m-%d_%H:%M:%S")` in local time (pvesr status, pve-cli.md §5.2).
pub fn fmt_pvesr_time(t: i64) -> String {
    let tm = localtime(t);
    format!("{:04}-{:02}-{:02}_{:02}:{:02}:{:02}", tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec)
}

/// Is `path` on the local machine's IPs? Uses `ip -o addr` (iproute2 is in every lab host).
pub fn local_ips() -> Vec<String> {
    let Ok(out) = run("ip", &["-o", "addr", "show"]) else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            while let Some(tok) = it.next() {
                if tok == "inet" || tok == "inet6" {
                    return it.next().map(|a| a.split('/').next().unwrap_or(a).to_string());
                }
            }
            None
        })
        .collect()
}

/// Resolve a host name via /etc/hosts (the lab has no DNS): first IPv4 address.
pub fn resolve_host(name: &str) -> Option<String> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Some(name.to_string());
    }
    let hosts = read_opt(&p("/etc/hosts"))?;
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let Some(ip) = it.next() else { continue };
        if ip.starts_with("127.") || ip.contains(':') {
            continue;
        }
        if it.any(|n| n == name || n.split('.').next() == Some(name)) {
            return Some(ip.to_string());
        }
    }
    None
}

/// TCP connect with a short timeout (NAS reachability, pve-cli.md §4.2).
pub fn tcp_probe(host: &str, port: u16, timeout: Duration) -> Option<std::net::TcpStream> {
    let ip: std::net::IpAddr = resolve_host(host)?.parse().ok()?;
    std::net::TcpStream::connect_timeout(&std::net::SocketAddr::new(ip, port), timeout).ok()
}

/// Free/total bytes of the file system holding `path` (statvfs).
pub fn fs_usage(path: &Path) -> Option<(u64, u64, u64)> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let bs = st.f_frsize as u64;
    let total = st.f_blocks as u64 * bs;
    let avail = st.f_bavail as u64 * bs;
    let used = total.saturating_sub(st.f_bfree as u64 * bs);
    Some((total, used, avail))
}

/// Is stdin a terminal?
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty on fd 0.
    unsafe { libc::isatty(0) == 1 }
}

/// Read one line from stdin (without the newline); None on EOF.
pub fn read_stdin_line() -> Option<String> {
    let mut s = String::new();
    match std::io::stdin().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
    }
}

/// SHA-1 hex digest (storage.cfg `digest`, pve-cli.md §4.4). Small self-contained implementation
/// to keep the binary free of crypto crates.
pub fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(&[b'a'; 1000]),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }
}
