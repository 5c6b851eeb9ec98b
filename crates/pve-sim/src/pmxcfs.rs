//! The simulated cluster file system behind `/etc/pve`.
//!
//! Real pmxcfs is a FUSE file system replicated over corosync. The lab instead keeps the content in
//! the *backplane*, a directory shared by every pve host (and the nas):
//!
//! ```text
//! <backplane>/pmxcfs/local-<host>/     /etc/pve of a node that is not clustered
//! <backplane>/pmxcfs/cluster-<name>/   /etc/pve of every member of cluster <name>
//! <backplane>/pve-sim/                 simulator bookkeeping (locks, corosync.conf sync marks)
//! ```
//! `/etc/pve` is a symlink to one of them. Per-node magic links of pmxcfs (`local`, `qemu-server`,
//! `lxc`, `openvz` → `nodes/<this node>/...`) are symlinks to absolute paths under
//! `/var/lib/pve-sim/self/`, which each host points at its own `nodes/<host>` — so they resolve
//! per host although the directory is shared.
//!
//! Simplifications (documented in the crate README section of the report): read-only-without-
//! quorum is enforced by the simulated CLIs (`cluster not ready - no quorum?`), not by the file
//! system; plain `cat > /etc/pve/x` still works while inquorate.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use pve_formats::corosync::CorosyncConf;

use crate::cli::die;
use crate::{corosync, sys};

pub fn backplane() -> PathBuf {
    sys::p("/var/lib/pve-sim-backplane")
}

pub fn etc_pve() -> PathBuf {
    sys::p("/etc/pve")
}

pub fn pve_path(rel: &str) -> PathBuf {
    etc_pve().join(rel)
}

/// Simulator bookkeeping on the backplane (not visible under /etc/pve).
pub fn meta() -> PathBuf {
    backplane().join("pve-sim")
}

pub fn local_dir(host: &str) -> PathBuf {
    backplane().join("pmxcfs").join(format!("local-{host}"))
}

pub fn cluster_dir(name: &str) -> PathBuf {
    backplane().join("pmxcfs").join(format!("cluster-{name}"))
}

/// Per-host targets of the magic links (see module docs).
pub fn self_dir() -> PathBuf {
    sys::p("/var/lib/pve-sim/self")
}

/// pve-cli.md §2 "Pre-flight": `/etc/pve` must be mounted.
pub fn require_mounted() -> Result<()> {
    if !etc_pve().is_dir() {
        return Err(die("pve configuration filesystem (pmxcfs) not mounted"));
    }
    Ok(())
}

pub fn corosync_conf_path() -> PathBuf {
    pve_path("corosync.conf")
}

pub fn clustered() -> bool {
    corosync_conf_path().is_file()
}

/// Parsed `/etc/pve/corosync.conf`, None when not clustered.
pub fn read_corosync_conf() -> Result<Option<CorosyncConf>> {
    let path = corosync_conf_path();
    let Some(raw) = sys::read_opt(&path) else { return Ok(None) };
    Ok(Some(CorosyncConf::parse(&raw).with_context(|| format!("{}", path.display()))?))
}

/// Quorate, or not clustered (a standalone node is always writable).
pub fn quorate() -> bool {
    !clustered() || corosync::quorate()
}

/// Writes to /etc/pve need quorum when clustered (pve-cli.md §2.3 peer side, §10).
pub fn require_quorum() -> Result<()> {
    if !quorate() {
        return Err(die("cluster not ready - no quorum?"));
    }
    Ok(())
}

/// Name of the directory /etc/pve currently points to (`local-x` / `cluster-y`).
pub fn current_store() -> String {
    fs::read_link(etc_pve())
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| format!("local-{}", sys::hostname()))
}

/// Cluster-wide lock (pmxcfs `cfs_lock_file`), shared by all nodes via the backplane.
pub fn cfs_lock(name: &str) -> Result<sys::FileLock> {
    let path = meta().join("locks").join(current_store()).join(name);
    sys::lock(&path, Duration::from_secs(10))
        .map_err(|_| die(format!("cfs-lock '{name}' error: got lock request timeout")))
}

/// Create the fresh, unclustered /etc/pve of `host` (used by lab-init; wipes an old one).
pub fn init_local(host: &str) -> Result<PathBuf> {
    let dir = local_dir(host);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing old {}", dir.display()))?;
    }
    sys::mkdir_p(&dir, 0o755)?;
    for d in ["nodes", "priv", "priv/lock", "priv/acme", "firewall", "ha", "mapping", "sdn", "virtual-guest"] {
        sys::mkdir_p(&dir.join(d), if d.starts_with("priv") { 0o700 } else { 0o755 })?;
    }
    ensure_node_dirs(&dir, host)?;
    ensure_magic_links(&dir)?;
    point_self_links(host)?;
    sys::symlink_replace(&dir, &etc_pve())?;
    Ok(dir)
}

/// `nodes/<host>/{qemu-server,lxc,openvz,priv}` inside a store.
pub fn ensure_node_dirs(store: &Path, host: &str) -> Result<()> {
    let n = store.join("nodes").join(host);
    for d in ["", "qemu-server", "lxc", "openvz"] {
        sys::mkdir_p(&n.join(d), 0o755)?;
    }
    sys::mkdir_p(&n.join("priv"), 0o700)?;
    Ok(())
}

/// The per-node magic links inside a store (`local`, `qemu-server`, `lxc`, `openvz`).
pub fn ensure_magic_links(store: &Path) -> Result<()> {
    for (name, target) in [("local", "local"), ("qemu-server", "qemu-server"), ("lxc", "lxc"), ("openvz", "openvz")] {
        let link = store.join(name);
        if !link.is_symlink() {
            sys::symlink_replace(&self_dir().join(target), &link)?;
        }
    }
    Ok(())
}

/// This host's targets of the magic links.
pub fn point_self_links(host: &str) -> Result<()> {
    let node = etc_pve().join("nodes").join(host);
    sys::mkdir_p(&self_dir(), 0o755)?;
    for (name, sub) in [("local", ""), ("qemu-server", "qemu-server"), ("lxc", "lxc"), ("openvz", "openvz")] {
        let target = if sub.is_empty() { node.clone() } else { node.join(sub) };
        sys::symlink_replace(&target, &self_dir().join(name))?;
    }
    Ok(())
}

/// `pvecm create`: the node's local /etc/pve becomes the cluster's (content moved).
pub fn create_cluster_store(name: &str) -> Result<PathBuf> {
    let host = sys::hostname();
    let from = fs::read_link(etc_pve()).unwrap_or_else(|_| local_dir(&host));
    let to = cluster_dir(name);
    if to.exists() {
        // A previous lab cluster of the same name whose members are all gone: start clean.
        let stale = to.with_file_name(format!("cluster-{name}.stale.{}", sys::now()));
        fs::rename(&to, &stale)?;
    }
    copy_tree(&from, &to)?;
    ensure_magic_links(&to)?;
    sys::symlink_replace(&to, &etc_pve())?;
    Ok(to)
}

/// `pvecm add` finish_join: "the local /etc/pve is replaced by the cluster's" (pve-cli.md §2.3);
/// only this node's own `nodes/<host>` directory is carried over when the cluster lacks it.
pub fn join_cluster_store(name: &str) -> Result<PathBuf> {
    let host = sys::hostname();
    let from = fs::read_link(etc_pve()).unwrap_or_else(|_| local_dir(&host));
    let to = cluster_dir(name);
    sys::mkdir_p(&to, 0o755)?;
    let own = from.join("nodes").join(&host);
    let dest = to.join("nodes").join(&host);
    if own.is_dir() && !dest.exists() && from != to {
        copy_tree(&own, &dest)?;
    }
    ensure_node_dirs(&to, &host)?;
    ensure_magic_links(&to)?;
    sys::symlink_replace(&to, &etc_pve())?;
    Ok(to)
}

/// Recursive copy keeping modes and symlinks.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.file_type().is_symlink() {
        let t = fs::read_link(from)?;
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(t, to)?;
    } else if meta.is_dir() {
        fs::create_dir_all(to)?;
        fs::set_permissions(to, meta.permissions())?;
        for e in fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
    } else {
        fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Write /etc/pve/corosync.conf like `atomic_write_conf` (config_version + 1, `.new` + rename),
/// then sync it to this node's /etc/corosync and record who wrote it. Returns the new version.
pub fn write_corosync_conf(conf: &mut CorosyncConf) -> Result<u64> {
    let v = conf.bump_config_version();
    let path = corosync_conf_path();
    let tmp = pve_path("corosync.conf.new");
    sys::write_str(&tmp, &conf.write(), 0o640)?;
    fs::rename(&tmp, &path)?;
    Ok(v)
}

/// Version of a corosync.conf on disk (None if missing/unparsable).
pub fn conf_version_of(path: &Path) -> Option<u64> {
    CorosyncConf::parse(&sys::read_opt(path)?).ok()?.config_version()
}

/// Outcome of one pmxcfs-style sync step.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncResult {
    Unchanged,
    Copied { old: Option<u64>, new: u64 },
    LocalNewer { local: u64, cluster: u64 },
}

/// pmxcfs `dcdb_sync_corosync_conf` (pve-cli.md §2.1 step 3): copy /etc/pve/corosync.conf to
/// /etc/corosync/corosync.conf (0644) when its version differs; refuse when the local one is newer.
pub fn sync_corosync_conf() -> Result<SyncResult> {
    let cluster_path = corosync_conf_path();
    let Some(raw) = sys::read_opt(&cluster_path) else { return Ok(SyncResult::Unchanged) };
    let Some(new) = CorosyncConf::parse(&raw).ok().and_then(|c| c.config_version()) else {
        return Ok(SyncResult::Unchanged);
    };
    let local_path = sys::p("/etc/corosync/corosync.conf");
    let old = conf_version_of(&local_path);
    let res = match old {
        Some(o) if o == new => {
            mark_synced(new);
            SyncResult::Unchanged
        }
        Some(o) if o > new => SyncResult::LocalNewer { local: o, cluster: new },
        _ => {
            sys::write_str(&local_path, &raw, 0o644)?;
            mark_synced(new);
            SyncResult::Copied { old, new }
        }
    };
    Ok(res)
}

fn mark_synced(v: u64) {
    let f = meta().join("synced").join(sys::hostname());
    let _ = sys::write_str(&f, &format!("{v}\n"), 0o644);
}

/// Heartbeat of this host's lab-daemons (lets writers know whom to wait for).
pub fn heartbeat() {
    let f = meta().join("heartbeat").join(sys::hostname());
    let _ = sys::write_str(&f, &format!("{} {}\n", sys::now(), current_store()), 0o644);
}

/// Is `host`'s lab-daemons alive and serving the same store as this node?
fn daemon_alive(host: &str) -> bool {
    let Some(s) = sys::read_opt(&meta().join("heartbeat").join(host)) else { return false };
    let mut it = s.split_whitespace();
    let fresh = it.next().and_then(|t| t.parse::<i64>().ok()).is_some_and(|t| sys::now() - t <= 3);
    fresh && it.next() == Some(current_store().as_str())
}

fn synced_version(host: &str) -> u64 {
    sys::read_opt(&meta().join("synced").join(host)).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// After a write: sync this node, wait (bounded) until every other member whose lab-daemons is
/// alive has copied `version`, then — like pmxcfs on the writing node — `corosync-cfgtool -R`
/// when a previous config existed. Returns the reload output (empty when no reload was needed).
pub fn distribute_corosync_conf(conf: &CorosyncConf, version: u64, reload: bool) -> Result<String> {
    let me = sys::hostname();
    sync_corosync_conf()?;
    let others: Vec<String> = conf.nodes()?.into_iter().map(|n| n.name).filter(|n| *n != me).collect();
    sys::wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        others.iter().all(|h| !daemon_alive(h) || synced_version(h) >= version)
    });
    if reload && corosync::running() {
        let (_, out) = corosync::cfgtool_reload();
        return Ok(out);
    }
    Ok(String::new())
}

/// All guest config files in the cluster: (vmid, node, path).
pub fn guests() -> Vec<(u64, String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(nodes) = fs::read_dir(etc_pve().join("nodes")) else { return out };
    for n in nodes.flatten() {
        let node = n.file_name().to_string_lossy().into_owned();
        for kind in ["qemu-server", "lxc"] {
            let Ok(files) = fs::read_dir(n.path().join(kind)) else { continue };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if let Some(id) = name.strip_suffix(".conf").and_then(|i| i.parse().ok()) {
                    out.push((id, node.clone(), f.path()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Cluster node names (from corosync.conf), or just this node when not clustered.
pub fn cluster_node_names() -> Vec<String> {
    match read_corosync_conf() {
        Ok(Some(c)) => c.nodes().map(|v| v.into_iter().map(|n| n.name).collect()).unwrap_or_default(),
        _ => vec![sys::hostname()],
    }
}
