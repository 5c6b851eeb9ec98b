//! NFS storage definitions (`/etc/pve/storage.cfg`, cluster-wide) and the content directories
//! on the shared storage.
//!
//! Observed with `pvesh get /storage --output-format json` (pve-cli.md §4.4) on the master;
//! changed with `pvesm add nfs` (§4.2) / `pvesm set` (§4.3). `server`, `export` and `path` are
//! fixed after creation (`pvesm set` rejects them), so a difference there needs
//! `pvesm remove` + `pvesm add` — done only with `--recreate`, and otherwise refused before
//! anything changes. `content` is compared as a set (PVE writes it in hash order, §4.2).

use crate::diff::{self, show_opt, show_set, FieldChange, Memo, Update, UNSET};
use crate::probes;
use anyhow::{bail, Context, Result};
use common::engine::{Observed, Resource, Status};
use common::inventory::{NfsStorage, Retention};
use common::parsers::pvesh::backup::PruneBackups;
use common::parsers::pvesh::storage::{parse_storage_config, StorageConfig};
use common::ssh::{quote, Session};
use std::collections::BTreeSet;

/// What PVE assumes when an nfs storage has no `content` (pve-cli.md §4.2).
pub const DEFAULT_CONTENT: &str = "images";

/// An NFS storage as the inventory wants it (defaults resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct NfsWant {
    pub id: String,
    pub server: String,
    pub export: String,
    /// `/mnt/pve/<id>` unless the inventory says otherwise.
    pub path: String,
    pub content: BTreeSet<String>,
    pub options: Option<String>,
    /// Empty = all nodes.
    pub nodes: BTreeSet<String>,
    pub prune_backups: Option<PruneBackups>,
    pub create_subdirs: bool,
}

impl NfsWant {
    pub fn from_inventory(s: &NfsStorage) -> Self {
        NfsWant {
            id: s.id.clone(),
            server: s.server.clone(),
            export: s.export.clone(),
            path: s.path.clone().unwrap_or_else(|| format!("/mnt/pve/{}", s.id)),
            content: s.content.iter().cloned().collect(),
            options: s.options.clone(),
            nodes: s.nodes.iter().cloned().collect(),
            prune_backups: s.prune_backups.as_ref().and_then(prune_backups),
            create_subdirs: s.create_subdirs,
        }
    }

    /// Does this storage apply to `node` (no `nodes` restriction, or listed)?
    pub fn applies_to(&self, node: &str) -> bool {
        self.nodes.is_empty() || self.nodes.contains(node)
    }

    /// The `pvesm add nfs` command (pve-cli.md §4.2).
    pub fn add_command(&self) -> String {
        let mut u = Update::default();
        u.set("server", &self.server);
        u.set("export", &self.export);
        u.set("path", &self.path);
        u.set("content", self.content.iter().cloned().collect::<Vec<_>>().join(","));
        if let Some(o) = &self.options {
            u.set("options", o);
        }
        if !self.nodes.is_empty() {
            u.set("nodes", self.nodes.iter().cloned().collect::<Vec<_>>().join(","));
        }
        if let Some(p) = &self.prune_backups {
            u.set("prune-backups", p.to_property_string());
        }
        format!("pvesm add nfs {}{}", quote(&self.id), u.args())
    }
}

/// Inventory retention → PVE's `prune-backups`; `None` when no rule is set.
pub fn prune_backups(r: &Retention) -> Option<PruneBackups> {
    let p = PruneBackups {
        keep_all: None,
        keep_last: r.keep_last.map(u64::from),
        keep_hourly: r.keep_hourly.map(u64::from),
        keep_daily: r.keep_daily.map(u64::from),
        keep_weekly: r.keep_weekly.map(u64::from),
        keep_monthly: r.keep_monthly.map(u64::from),
        keep_yearly: r.keep_yearly.map(u64::from),
    };
    (p != PruneBackups::default()).then_some(p)
}

fn show_prune(p: Option<&PruneBackups>) -> String {
    p.map(|p| p.to_property_string()).unwrap_or_else(|| UNSET.to_string())
}

/// What has to happen to one storage.
#[derive(Debug, Clone, PartialEq)]
pub enum NfsPlan {
    InState,
    /// Not defined: `pvesm add nfs`.
    Add,
    /// Mutable fields differ: `pvesm set` with these arguments.
    Update { changes: Vec<FieldChange>, update: Update },
    /// Fixed fields (type/server/export/path) differ: `pvesm remove` + `pvesm add`.
    Recreate { fixed: Vec<FieldChange>, other: Vec<FieldChange> },
}

impl NfsPlan {
    pub fn is_change(&self) -> bool {
        *self != NfsPlan::InState
    }
}

/// Compare one storage with its definition in `/storage` (None = not defined).
pub fn plan(want: &NfsWant, have: Option<&StorageConfig>) -> NfsPlan {
    let Some(have) = have else { return NfsPlan::Add };
    let mut fixed = Vec::new();
    if have.storage_type != "nfs" {
        fixed.push(FieldChange::new("type", &have.storage_type, "nfs"));
    }
    for (field, got, want) in [
        ("server", have.server.as_deref(), want.server.as_str()),
        ("export", have.export.as_deref(), want.export.as_str()),
        ("path", have.path.as_deref(), want.path.as_str()),
    ] {
        if got != Some(want) {
            fixed.push(FieldChange::new(field, show_opt(got), want));
        }
    }

    let mut changes = Vec::new();
    let mut update = Update::default();
    let have_content = have.content.clone().unwrap_or_else(|| BTreeSet::from([DEFAULT_CONTENT.to_string()]));
    if have_content != want.content {
        changes.push(FieldChange::new("content", show_set(&have_content), show_set(&want.content)));
        update.set("content", show_set(&want.content));
    }
    if have.options != want.options {
        changes.push(FieldChange::new("options", show_opt(have.options.as_deref()), show_opt(want.options.as_deref())));
        match &want.options {
            Some(o) => update.set("options", o),
            None => update.delete("options"),
        }
    }
    let have_nodes = have.nodes.clone().unwrap_or_default();
    if have_nodes != want.nodes {
        let show = |s: &BTreeSet<String>| if s.is_empty() { "(all nodes)".to_string() } else { show_set(s) };
        changes.push(FieldChange::new("nodes", show(&have_nodes), show(&want.nodes)));
        if want.nodes.is_empty() {
            update.delete("nodes");
        } else {
            update.set("nodes", show_set(&want.nodes));
        }
    }
    if have.prune_backups != want.prune_backups {
        changes.push(FieldChange::new(
            "prune-backups",
            show_prune(have.prune_backups.as_ref()),
            show_prune(want.prune_backups.as_ref()),
        ));
        match &want.prune_backups {
            Some(p) => update.set("prune-backups", p.to_property_string()),
            None => update.delete("prune-backups"),
        }
    }
    if have.disable {
        changes.push(FieldChange::new("disable", "1", UNSET));
        update.delete("disable");
    }

    if !fixed.is_empty() {
        NfsPlan::Recreate { fixed, other: changes }
    } else if changes.is_empty() {
        NfsPlan::InState
    } else {
        NfsPlan::Update { changes, update }
    }
}

/// The storage entry `id` in a `/storage` listing.
pub fn find<'a>(list: &'a [StorageConfig], id: &str) -> Option<&'a StorageConfig> {
    list.iter().find(|s| s.storage == id)
}

/// Parse the `/storage` probe (errors name the command and what it printed).
pub fn parse_listing(observed: &Observed) -> Result<Vec<StorageConfig>> {
    let json = probes::pvesh_output(observed, "pvesh get /storage")?;
    Ok(parse_storage_config(json)?)
}

/// One NFS storage definition, managed on the master (cluster-wide).
#[derive(Debug)]
pub struct NfsStorageResource {
    pub want: NfsWant,
    /// `--recreate`: allowed to `pvesm remove` + `pvesm add` when fixed fields differ.
    pub recreate: bool,
    plan: Memo<NfsPlan>,
}

impl NfsStorageResource {
    pub fn new(want: NfsWant, recreate: bool) -> Self {
        NfsStorageResource { want, recreate, plan: Memo::new() }
    }

    /// The plan for an observation (pure).
    pub fn plan_for(&self, observed: &Observed) -> Result<NfsPlan> {
        let list = parse_listing(observed)?;
        Ok(plan(&self.want, find(&list, &self.want.id)))
    }

    /// The message when fixed fields differ and `--recreate` was not given.
    pub fn recreate_refusal(&self, fixed: &[FieldChange]) -> String {
        format!(
            "storage {}: {} cannot be changed in place (fixed after creation); it needs `pvesm remove {}` + `{}`. \
             Guests keep their `{}:` volume references. Re-run with --recreate to do that",
            self.want.id,
            diff::summary(fixed),
            self.want.id,
            self.want.add_command(),
            self.want.id
        )
    }
}

impl Resource for NfsStorageResource {
    fn id(&self) -> String {
        format!("storage {}", self.want.id)
    }

    fn probe(&self) -> String {
        probes::STORAGE.to_string()
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let plan = self.plan_for(observed)?;
        self.plan.put(plan.clone());
        Ok(match plan {
            NfsPlan::InState => Status::InState,
            NfsPlan::Add => Status::change_with_diff(
                format!("add (nfs {}:{} at {})", self.want.server, self.want.export, self.want.path),
                Some(format!("$ {}", self.want.add_command())),
            ),
            NfsPlan::Update { changes, update } => Status::change_with_diff(
                diff::summary(&changes),
                Some(format!("$ pvesm set {}{}", quote(&self.want.id), update.args())),
            ),
            NfsPlan::Recreate { fixed, other } => {
                let mut all = fixed.clone();
                all.extend(other);
                let how = if self.recreate { "recreate" } else { "recreate (only with --recreate)" };
                Status::change_with_diff(
                    format!("{how}: {}", diff::summary(&all)),
                    Some(format!("$ pvesm remove {}\n$ {}", quote(&self.want.id), self.want.add_command())),
                )
            }
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let plan = match self.plan.get() {
            Some(p) => p,
            None => self.plan_for(&probes::run_one(session, probes::STORAGE)?)?,
        };
        let id = quote(&self.want.id);
        let script = match &plan {
            NfsPlan::InState => return Ok(()),
            NfsPlan::Add => self.want.add_command(),
            NfsPlan::Update { update, .. } => format!("pvesm set {id}{}", update.args()),
            NfsPlan::Recreate { fixed, .. } => {
                if !self.recreate {
                    bail!("{}", self.recreate_refusal(fixed));
                }
                format!("pvesm remove {id} && {}", self.want.add_command())
            }
        };
        let out = session.script_root(&format!("set -e\n{script}\n"))?;
        session.check(&self.id(), out).map(drop).with_context(|| format!("`{script}` failed"))
    }
}

/// Subdirectories PVE uses for each content type on a file storage (PVE::Storage::Plugin
/// `default_content_dirs`): iso → template/iso, vztmpl → template/cache, backup → dump, …
pub fn content_dir(content: &str) -> Option<&'static str> {
    Some(match content {
        "images" => "images",
        "rootdir" => "private",
        "vztmpl" => "template/cache",
        "iso" => "template/iso",
        "backup" => "dump",
        "snippets" => "snippets",
        "import" => "import",
        _ => return None,
    })
}

/// The directories a storage's content needs, sorted.
pub fn content_dirs(content: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = content.iter().filter_map(|c| content_dir(c)).map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

/// Upper bound for looking into a mounted share.
pub const PROBE_TIMEOUT_SECS: u32 = 10;

/// The content directories on a shared storage (`create_subdirs = true`). Created once, on the
/// master, through the mount — only while the storage is active, so nothing is ever created
/// underneath an unmounted mount point.
#[derive(Debug, Clone)]
pub struct SharedDirs {
    pub storage: String,
    pub path: String,
    pub dirs: Vec<String>,
    /// Node the directories are created from (the master).
    pub node: String,
}

impl SharedDirs {
    pub fn new(want: &NfsWant, node: &str) -> Self {
        SharedDirs { storage: want.id.clone(), path: want.path.clone(), dirs: content_dirs(&want.content), node: node.to_string() }
    }

    /// Directories the probe reported missing.
    pub fn missing(observed: &Observed) -> Vec<String> {
        observed.stdout.lines().filter_map(|l| l.strip_prefix("missing ")).map(str::to_string).collect()
    }
}

impl Resource for SharedDirs {
    fn id(&self) -> String {
        format!("directories {}", self.storage)
    }

    fn probe(&self) -> String {
        // A hard NFS mount whose server died blocks `stat` for ever: bounded by `timeout`.
        let dirs: Vec<String> = self.dirs.iter().map(|d| quote(d)).collect();
        let check = format!("for d in {}; do [ -d \"$0/$d\" ] || echo \"missing $d\"; done", dirs.join(" "));
        format!("timeout {PROBE_TIMEOUT_SECS} sh -c {} {}\n", quote(&check), quote(&self.path))
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        if observed.status == 124 {
            bail!("{} did not answer within {PROBE_TIMEOUT_SECS} s (a hung NFS mount?)", self.path);
        }
        if observed.status != 0 {
            bail!("probing {} failed: {}", self.path, observed.stderr.trim());
        }
        let missing = Self::missing(observed);
        Ok(if missing.is_empty() {
            Status::InState
        } else {
            Status::change(format!("create {} in {}", missing.join(", "), self.path))
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let dirs: Vec<String> = self.dirs.iter().map(|d| format!("\"$p\"/{}", quote(d))).collect();
        let script = format!(
            "p={path}\n\
             if ! pvesh get /nodes/{node}/storage --storage {id} --output-format json | grep -q '\"active\":1'; then\n\
             \x20 echo \"storage {id} is not active on {node}: not creating directories under an unmounted $p\" >&2; exit 1\n\
             fi\n\
             mkdir -p {dirs}\n",
            path = quote(&self.path),
            node = quote(&self.node),
            id = quote(&self.storage),
            dirs = dirs.join(" ")
        );
        let out = session.script_root(&script)?;
        session.check(&self.id(), out).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::parsers::pvesh::storage::parse_storage_config_entry;

    fn want(id: &str, content: &[&str]) -> NfsWant {
        NfsWant {
            id: id.into(),
            server: "10.231.1.25".into(),
            export: "/volume1/homelab-data".into(),
            path: format!("/mnt/pve/{id}"),
            content: content.iter().map(|s| s.to_string()).collect(),
            options: None,
            nodes: BTreeSet::new(),
            prune_backups: None,
            create_subdirs: false,
        }
    }

    fn have(json: &str) -> StorageConfig {
        parse_storage_config_entry(json).unwrap()
    }

    const NAS_DATA: &str = r#"{"content":"rootdir,images","digest":"0123","export":"/volume1/homelab-data","path":"/mnt/pve/nas-data","server":"10.231.1.25","shared":1,"storage":"nas-data","type":"nfs"}"#;

    #[test]
    fn missing_storage_is_added_with_every_field() {
        let mut w = want("nas-backup", &["backup"]);
        w.options = Some("vers=4.2,soft".into());
        w.nodes = ["pve-node1".to_string(), "pve-node2".to_string()].into();
        w.prune_backups = prune_backups(&Retention { keep_last: Some(4), keep_weekly: Some(2), ..Default::default() });
        assert_eq!(plan(&w, None), NfsPlan::Add);
        assert_eq!(
            w.add_command(),
            "pvesm add nfs nas-backup --server 10.231.1.25 --export /volume1/homelab-data --path /mnt/pve/nas-backup \
             --content backup --options vers=4.2,soft --nodes pve-node1,pve-node2 --prune-backups keep-last=4,keep-weekly=2"
        );
    }

    #[test]
    fn content_is_a_set_and_matching_storage_is_in_state() {
        let w = want("nas-data", &["images", "rootdir"]);
        assert_eq!(plan(&w, Some(&have(NAS_DATA))), NfsPlan::InState);
    }

    #[test]
    fn mutable_fields_are_set_or_deleted() {
        let w = want("nas-data", &["images"]);
        let h = have(r#"{"content":"rootdir,images","export":"/volume1/homelab-data","path":"/mnt/pve/nas-data","server":"10.231.1.25","storage":"nas-data","type":"nfs","options":"vers=3","nodes":"pve-node1","prune-backups":"keep-last=2","disable":1}"#);
        let NfsPlan::Update { changes, update } = plan(&w, Some(&h)) else { panic!() };
        assert_eq!(
            diff::summary(&changes),
            "content images,rootdir → images; options vers=3 → (unset); nodes pve-node1 → (all nodes); \
             prune-backups keep-last=2 → (unset); disable 1 → (unset)"
        );
        assert_eq!(update.args(), " --content images --delete options,nodes,prune-backups,disable");
        let mut w2 = w.clone();
        w2.options = Some("vers=4.2".into());
        let NfsPlan::Update { update, .. } = plan(&w2, Some(&h)) else { panic!() };
        assert!(update.args().contains("--options vers=4.2"), "{}", update.args());
    }

    #[test]
    fn absent_content_means_images() {
        let w = want("nas-data", &["images"]);
        let h = have(r#"{"export":"/volume1/homelab-data","path":"/mnt/pve/nas-data","server":"10.231.1.25","storage":"nas-data","type":"nfs"}"#);
        assert_eq!(plan(&w, Some(&h)), NfsPlan::InState);
    }

    #[test]
    fn fixed_fields_need_recreate_and_apply_refuses_without_it() {
        let mut w = want("nas-data", &["images"]);
        w.server = "10.231.1.26".into();
        let p = plan(&w, Some(&have(NAS_DATA)));
        let NfsPlan::Recreate { fixed, other } = &p else { panic!("{p:?}") };
        assert_eq!(diff::summary(fixed), "server 10.231.1.25 → 10.231.1.26");
        assert_eq!(diff::summary(other), "content images,rootdir → images");
        let h = have(r#"{"path":"/var/lib/vz","storage":"nas-data","type":"dir"}"#);
        let NfsPlan::Recreate { fixed, .. } = plan(&w, Some(&h)) else { panic!() };
        assert_eq!(fixed[0].to_string(), "type dir → nfs");
        assert_eq!(fixed[1].to_string(), "server (unset) → 10.231.1.26");

        let r = NfsStorageResource::new(w.clone(), false);
        let obs = Observed::new(&format!("[{NAS_DATA}]\n"), 0);
        let Status::Change { summary, diff } = r.evaluate(&obs).unwrap() else { panic!() };
        assert!(summary.starts_with("recreate (only with --recreate): server 10.231.1.25 → 10.231.1.26"), "{summary}");
        assert!(diff.unwrap().contains("$ pvesm remove nas-data\n$ pvesm add nfs nas-data --server 10.231.1.26"));
        let msg = r.recreate_refusal(&[FieldChange::new("server", "a", "b")]);
        assert!(msg.contains("--recreate") && msg.contains("pvesm remove nas-data"), "{msg}");
    }

    #[test]
    fn resource_reads_the_listing_and_reports_pvesh_failures() {
        let r = NfsStorageResource::new(want("nas-data", &["images", "rootdir"]), false);
        let list = format!("[{{\"content\":\"iso,vztmpl,backup\",\"path\":\"/var/lib/vz\",\"storage\":\"local\",\"type\":\"dir\"}},{NAS_DATA}]\n");
        assert_eq!(r.evaluate(&Observed::new(&list, 0)).unwrap(), Status::InState);
        let r2 = NfsStorageResource::new(want("nas-new", &["backup"]), false);
        let Status::Change { summary, .. } = r2.evaluate(&Observed::new(&list, 0)).unwrap() else { panic!() };
        assert_eq!(summary, "add (nfs 10.231.1.25:/volume1/homelab-data at /mnt/pve/nas-new)");
        let mut bad = Observed::new("", 255);
        bad.stderr = "ipcc_send_rec[1] failed: Connection refused\n".into();
        let e = r.evaluate(&bad).unwrap_err().to_string();
        assert!(e.contains("pvesh get /storage") && e.contains("Connection refused"), "{e}");
    }

    #[test]
    fn content_dirs_follow_pve_defaults() {
        let c: BTreeSet<String> = ["iso", "vztmpl", "snippets", "backup"].iter().map(|s| s.to_string()).collect();
        assert_eq!(content_dirs(&c), ["dump", "snippets", "template/cache", "template/iso"]);
        let d = SharedDirs::new(&want("nas-shared", &["iso", "snippets"]), "pve-node1");
        assert_eq!(d.evaluate(&Observed::new("", 0)).unwrap(), Status::InState);
        assert_eq!(
            d.evaluate(&Observed::new("missing template/iso\n", 0)).unwrap(),
            Status::change("create template/iso in /mnt/pve/nas-shared")
        );
    }

    #[test]
    fn shared_dirs_probe_runs_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("template/iso")).unwrap();
        let mut w = want("s", &["iso", "vztmpl"]);
        w.path = dir.path().display().to_string();
        let d = SharedDirs::new(&w, "n");
        let out = std::process::Command::new("sh").arg("-c").arg(d.probe()).output().unwrap();
        let o = Observed::new(&String::from_utf8_lossy(&out.stdout), out.status.code().unwrap());
        assert_eq!(SharedDirs::missing(&o), ["template/cache"]);
        assert!(d.evaluate(&Observed::new("", 124)).unwrap_err().to_string().contains("hung NFS mount"));
    }
}
