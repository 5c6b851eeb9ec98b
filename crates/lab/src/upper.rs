//! The host's upper overlay layer, prepared from the machine side before the host boots.
//!
//! `lowerdir=/` shows the whole machine to every host (lab-feasibility.md gotcha 10), and the
//! machine's package postinsts left identity in it (gotcha 1). Before a first boot we therefore
//! write into the upper layer: opaque directories that hide private and operator paths, a
//! whiteout for the machine's qnetd CA, the host's own machine-id, hostname and SSH host keys,
//! root's authorized_keys, and the pve-sim installation.

use crate::keys;
use crate::paths::PVE_SIM_IN_HOST;
use crate::sys;
use crate::topology::{HostSpec, Role};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The machine's qnetd certificate database (its CA key must not be shared by every host).
const QNETD_NSSDB: &str = "etc/corosync/qnetd/nssdb";

/// Directories every host gets empty and private.
const PRIVATE_DIRS: [&str; 2] = ["root", "home"];

/// Paths that must never be hidden wholesale: hiding them would break the host.
const SYSTEM_DIRS: [&str; 13] = ["/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/var", "/run", "/tmp", "/dev", "/proc", "/sys"];

/// What to install from pve-sim: the binary and each role's applet names.
#[derive(Debug, Clone)]
pub struct PveSimInstall {
    /// The binary on the machine.
    pub binary: PathBuf,
    /// Its copy on the runtime tmpfs (same filesystem as the upper layers).
    pub staged: PathBuf,
    pub applets: BTreeMap<&'static str, Vec<String>>,
}

/// Everything a fresh upper layer needs besides the host keys.
pub struct FreshUpper<'a> {
    pub host: &'a HostSpec,
    /// Absolute machine paths to hide (operator checkouts, /work, the lab dir).
    pub hidden: &'a [PathBuf],
    /// root's authorized_keys (pve hosts: the answer file's root-ssh-keys).
    pub root_key: Option<&'a str>,
    pub pve_sim: Option<&'a PveSimInstall>,
}

/// Create `upper/rel` and its parents with the owner and mode of the same path on the machine,
/// so the merged directory looks unchanged. Refuses to shadow a symlink (`/var/run` …).
pub fn mkdir_like(upper: &Path, rel: &str) -> Result<PathBuf> {
    let mut lower = PathBuf::from("/");
    let mut up = upper.to_path_buf();
    for comp in Path::new(rel).components() {
        let Component::Normal(c) = comp else { bail!("internal: {rel} is not a plain relative path") };
        lower.push(c);
        up.push(c);
        let (mode, uid, gid) = match std::fs::symlink_metadata(&lower) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!("{} is a symlink on this machine; the lab will not shadow it with a directory", lower.display())
            }
            Ok(m) if m.is_dir() => (m.mode() & 0o7777, m.uid(), m.gid()),
            Ok(_) => bail!("{} is not a directory on this machine", lower.display()),
            Err(_) => (0o755, 0, 0),
        };
        match std::fs::create_dir(&up) {
            Ok(()) => {
                std::fs::set_permissions(&up, std::fs::Permissions::from_mode(mode))?;
                std::os::unix::fs::chown(&up, Some(uid), Some(gid))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", up.display())),
        }
    }
    Ok(up)
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("path with NUL: {}", p.display()))
}

/// Mark an upper directory opaque: the lower directory's content disappears beneath it.
fn set_opaque(dir: &Path) -> Result<()> {
    let p = cstr(dir)?;
    let (name, val) = (c"trusted.overlay.opaque", b"y");
    // SAFETY: valid C strings and a 1-byte value.
    if unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), val.as_ptr().cast(), 1, 0) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting trusted.overlay.opaque on {} (needs root and a tmpfs/ext4 upper)", dir.display()));
    }
    Ok(())
}

/// An overlay whiteout (char device 0:0): the lower file or directory does not exist here.
fn whiteout(upper: &Path, rel: &str) -> Result<()> {
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let dir = if parent.is_empty() { upper.to_path_buf() } else { mkdir_like(upper, parent)? };
    let p = dir.join(name);
    if std::fs::symlink_metadata(&p).is_ok() {
        std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p))?;
    }
    let c = cstr(&p)?;
    // SAFETY: valid path; creating a 0:0 character device is how overlayfs spells deletion.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("creating whiteout {}", p.display()));
    }
    Ok(())
}

/// An empty, opaque directory at machine path `abs` with the machine's mode and owner.
fn hide(upper: &Path, abs: &Path) -> Result<()> {
    let rel = abs.strip_prefix("/").with_context(|| format!("{} is not absolute", abs.display()))?;
    let rel = rel.to_str().with_context(|| format!("{} is not UTF-8", abs.display()))?;
    let dir = mkdir_like(upper, rel)?;
    set_opaque(&dir)
}

/// Machine paths the hosts must not see besides /root and /home: /work, the checkout the
/// command runs from, the checkout `lab` was built in, and the lab dir. Nested and system
/// paths are dropped.
pub fn hidden_paths(lab_dir: &Path) -> Vec<PathBuf> {
    let mut cands: Vec<PathBuf> = vec![PathBuf::from("/work")];
    let git_top = |start: PathBuf| -> Option<PathBuf> {
        start.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
    };
    if let Some(top) = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok()).and_then(git_top) {
        cands.push(top);
    }
    if let Some(top) = std::env::current_exe().ok().and_then(|e| e.canonicalize().ok()).and_then(git_top) {
        cands.push(top);
    }
    cands.push(lab_dir.canonicalize().unwrap_or_else(|_| lab_dir.to_path_buf()));
    let covered = |p: &Path, by: &Path| p.starts_with(by);
    let mut out: Vec<PathBuf> = Vec::new();
    for c in cands {
        if !c.is_absolute() || SYSTEM_DIRS.iter().any(|s| c == Path::new(s)) || !c.is_dir() {
            continue;
        }
        // already private in every host: /root, /home, and the host's own tmpfs /tmp and /run
        if ["/root", "/home", "/tmp", "/run"].iter().any(|p| covered(&c, Path::new(p))) {
            continue;
        }
        if std::fs::symlink_metadata(&c).map(|m| m.file_type().is_symlink()).unwrap_or(true) {
            continue;
        }
        out.push(c);
    }
    out.sort();
    out.dedup();
    let all = out.clone();
    out.retain(|p| !all.iter().any(|q| q != p && covered(p, q)));
    out
}

/// Create the host's overlay dirs (upper, work, merged) if missing.
pub fn create_dirs(host_dir: &Path) -> Result<()> {
    for d in ["upper", "work", "merged"] {
        let p = host_dir.join(d);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    Ok(())
}

/// `upper/etc/corosync/qnetd`, owned like the machine's, for [`keys::KeyFactory`].
pub fn prepare_qnetd_dir(upper: &Path) -> Result<PathBuf> {
    mkdir_like(upper, "etc/corosync/qnetd")
}

/// Prepare `upper/etc/ssh` for generated host keys: the machine's keys are replaced by ours,
/// and key types we do not generate are whited out so no machine key leaks into a host.
pub fn prepare_etc_ssh(upper: &Path) -> Result<PathBuf> {
    let dir = mkdir_like(upper, "etc/ssh")?;
    if let Ok(rd) = std::fs::read_dir("/etc/ssh") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = keys::HOST_KEY_TYPES.iter().any(|t| name.starts_with(&format!("ssh_host_{t}_key")));
            if name.starts_with("ssh_host_") && !ours {
                whiteout(upper, &format!("etc/ssh/{name}"))?;
            }
        }
    }
    Ok(dir)
}

fn write_file(path: &Path, content: &str, mode: u32) -> Result<()> {
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::chown(path, Some(0), Some(0))?;
    Ok(())
}

/// After the key jobs: the Pi's own qnetd CA (keys::KeyFactory) is made opaque so the
/// machine's files beneath it disappear; every other host gets the machine's CA whited out
/// (they never had qnetd set up; host-init.sh still makes a Pi's CA if this could not).
pub fn seal_qnetd(upper: &Path) -> Result<()> {
    let own_nssdb = upper.join(QNETD_NSSDB);
    if own_nssdb.is_dir() {
        set_opaque(&own_nssdb)
    } else if Path::new("/").join(QNETD_NSSDB).exists() {
        whiteout(upper, QNETD_NSSDB)
    } else {
        Ok(())
    }
}

/// Everything of a first boot that can be written from outside (host keys come separately).
pub fn prepare_fresh(upper: &Path, f: &FreshUpper) -> Result<()> {
    let name = &f.host.name;
    for d in PRIVATE_DIRS {
        hide(upper, &Path::new("/").join(d)).with_context(|| format!("{name}: private /{d}"))?;
    }
    for p in f.hidden {
        hide(upper, p).with_context(|| format!("{name}: hiding {}", p.display()))?;
    }
    let etc = mkdir_like(upper, "etc")?;
    // a fresh install's identity (gotcha 1): never the machine's
    write_file(&etc.join("machine-id"), &format!("{}\n", sys::random_hex(16)?), 0o444)?;
    write_file(&etc.join("hostname"), &format!("{name}\n"), 0o644)?;
    if let Some(key) = f.root_key {
        let ssh = upper.join("root/.ssh");
        std::fs::create_dir_all(&ssh)?;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
        write_file(&ssh.join("authorized_keys"), &format!("{key}\n"), 0o600)?;
    }
    if let Some(sim) = f.pve_sim {
        install_pve_sim(upper, sim, f.host.role).with_context(|| format!("{name}: installing pve-sim"))?;
    }
    Ok(())
}

/// BRIEFING "pve-sim installation": the binary at /usr/local/lib/pve-sim/pve-sim and one
/// symlink per applet of the host's role in /usr/local/bin.
fn install_pve_sim(upper: &Path, sim: &PveSimInstall, role: Role) -> Result<()> {
    let rel_bin = PVE_SIM_IN_HOST.trim_start_matches('/');
    let (dir, file) = rel_bin.rsplit_once('/').expect("constant has a directory");
    let dir = mkdir_like(upper, dir)?;
    let target = dir.join(file);
    let _ = std::fs::remove_file(&target);
    // one copy on the runtime tmpfs, hard-linked into every host: a debug build is ~25 MB and a
    // 32-host lab must not hold 32 copies. (Hosts must not write to it in place; nothing does.)
    std::fs::hard_link(&sim.staged, &target)
        .with_context(|| format!("linking {} into the host", sim.staged.display()))?;
    let bin = mkdir_like(upper, "usr/local/bin")?;
    for applet in sim.applets.get(role.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
        let link = bin.join(applet);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(PVE_SIM_IN_HOST, &link).with_context(|| format!("linking applet {applet}"))?;
    }
    Ok(())
}

/// Copy pve-sim to the runtime tmpfs once (see `install_pve_sim`).
pub fn stage_pve_sim(binary: &Path, runtime_root: &Path) -> Result<PathBuf> {
    let staged = runtime_root.join("pve-sim");
    let tmp = runtime_root.join(".pve-sim.tmp");
    std::fs::copy(binary, &tmp).with_context(|| format!("copying {} to {}", binary.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &staged)?;
    Ok(staged)
}

/// Parse `pve-sim --applets ROLE` output: one plain name per line.
pub fn parse_applets(out: &str) -> Result<Vec<String>> {
    let mut v = Vec::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) || line.starts_with('.') {
            bail!("unexpected applet name {line:?} (one plain name per line expected)");
        }
        v.push(line.to_string());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_list_parsing() {
        assert_eq!(parse_applets("pvecm\npvesh\n\n").unwrap(), ["pvecm", "pvesh"]);
        assert!(parse_applets("../evil\n").is_err());
        assert!(parse_applets("a b\n").is_err());
    }

    #[test]
    fn hidden_paths_skip_system_and_nested() {
        let d = tempfile::tempdir().unwrap();
        let hidden = hidden_paths(d.path());
        for p in &hidden {
            assert!(!SYSTEM_DIRS.iter().any(|s| p == Path::new(s)), "{}", p.display());
            assert!(!p.starts_with("/tmp"), "{} is private in hosts anyway", p.display());
        }
        for p in &hidden {
            assert!(!hidden.iter().any(|q| q != p && p.starts_with(q)), "nested {}", p.display());
        }
    }
}
