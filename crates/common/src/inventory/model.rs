//! The typed inventory: one TOML file (`homelab.toml`) describing the whole homelab.
//!
//! Every struct denies unknown fields, so a typo is an error with a location instead of a
//! silently ignored setting. Field names are snake_case. Secrets are never stored here:
//! they are *named* (environment variable or file) by [`SecretRef`] and resolved at run time.
//!
//! Semantic rules (uniqueness, CIDR membership, one master, …) live in `validate.rs`;
//! this file only describes shapes and defaults.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole homelab.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub cluster: Cluster,
    pub automation: Automation,
    #[serde(default)]
    pub defaults: Defaults,
    pub networks: Networks,
    pub nodes: Vec<Node>,
    pub qdevice: Option<QDevice>,
    pub nas: Option<Nas>,
    /// Settings of `provision-iso` (answer files, answer server, install webhook).
    #[serde(default)]
    pub install: Install,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub zfs: Vec<ZfsProperties>,
    #[serde(default)]
    pub replication: Vec<ReplicationJob>,
    #[serde(default)]
    pub backup: Vec<BackupJob>,
    #[serde(default)]
    pub monitoring: Monitoring,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Corosync cluster name (`pvecm create NAME`): at most 15 characters (pve-cli.md §2.1).
    pub name: String,
    /// DNS domain of the nodes: `pve-node1.<domain>` is the node's FQDN.
    pub domain: String,
    /// Optional knet link priorities for `pvecm create --linkN ADDR,priority=P`.
    /// In passive mode the link with the *highest* priority is preferred (pve-cli.md §2.1).
    pub link0_priority: Option<u8>,
    pub link1_priority: Option<u8>,
}

/// The account every phase uses after first contact, and the keys it accepts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Automation {
    /// Login name of the automation user created on every host (e.g. `homelab`).
    pub user: String,
    /// Accepted public keys: literal OpenSSH public key lines, or `github:USER`
    /// (fetched from https://github.com/USER.keys, cached).
    pub keys: Vec<String>,
    /// Private key the tools use to log in. Absent: use the SSH agent.
    /// Relative paths are relative to the inventory file; `~/` is expanded.
    pub identity_file: Option<PathBuf>,
    /// The pinned known-hosts file the project manages (default `known_hosts` beside the
    /// inventory). Host keys are verified against it; see `ssh::known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// TCP port of sshd on every host.
    #[serde(default = "default_ssh_port")]
    pub ssh_port: u16,
    /// Per-step SSH connect timeout.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_ssh_port() -> u16 {
    22
}
fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// Packages ensured installed on every Proxmox node.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Proxmox package repository: `no-subscription` (default), `enterprise` or `test`.
    #[serde(default)]
    pub repository: Repository,
    /// Debian suite of the Proxmox release (PVE 9 = `trixie`).
    #[serde(default = "default_suite")]
    pub debian_suite: String,
    /// Keyboard layout for the installer answer file (`en-us`, `de`, …).
    #[serde(default = "default_keyboard")]
    pub keyboard: String,
    /// Country code for the installer answer file (lower-case ISO 3166 alpha-2).
    #[serde(default = "default_country")]
    pub country: String,
    /// Mail address for the installer answer file and for alerts.
    #[serde(default = "default_mailto")]
    pub mailto: String,
    /// `MaxAuthTries` in the sshd drop-in.
    #[serde(default = "default_max_auth_tries")]
    pub ssh_max_auth_tries: u32,
    /// Opt-in: patch out the "no valid subscription" notice in the web UI.
    #[serde(default)]
    pub remove_subscription_notice: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timezone: default_timezone(),
            ntp_servers: Vec::new(),
            packages: Vec::new(),
            repository: Repository::default(),
            debian_suite: default_suite(),
            keyboard: default_keyboard(),
            country: default_country(),
            mailto: default_mailto(),
            ssh_max_auth_tries: default_max_auth_tries(),
            remove_subscription_notice: false,
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_suite() -> String {
    "trixie".into()
}
fn default_keyboard() -> String {
    "en-us".into()
}
fn default_country() -> String {
    "us".into()
}
fn default_mailto() -> String {
    "root@localhost.localdomain".into()
}
fn default_max_auth_tries() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Repository {
    #[default]
    NoSubscription,
    Enterprise,
    Test,
}

/// The two networks: `mgmt` carries corosync link0 and SSH, `prod` carries link1 and guests.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Networks {
    pub mgmt: Network,
    pub prod: Network,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// e.g. `192.168.10.0/24`
    pub cidr: String,
    pub gateway: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    /// Bridge created on this network's NIC when `manage_bridges` is set on a node.
    pub bridge: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Creates the cluster (`pvecm create`); exactly one node has this role.
    Master,
    /// Joins the master (`pvecm add`).
    Member,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Short hostname, e.g. `pve-node1`.
    pub name: String,
    pub role: Role,
    /// Address on the mgmt network: corosync link0 and the SSH address the tools use.
    pub link0: String,
    /// Address on the prod network: corosync link1.
    pub link1: String,
    /// MAC of the NIC on the mgmt network (answer-server matching, answer NIC filter).
    pub mgmt_mac: Option<String>,
    /// MAC of the NIC on the prod network.
    pub prod_mac: Option<String>,
    /// Kernel names of the NICs (for rendered bridges), e.g. `enp1s0`.
    pub mgmt_nic: Option<String>,
    pub prod_nic: Option<String>,
    /// Installer disk selection: device names matched by suffix (`disk-list` in the answer).
    #[serde(default)]
    pub install_disks: Vec<String>,
    #[serde(default)]
    pub filesystem: Filesystem,
    /// RAID level for zfs/btrfs (`raid0`, `raid1`, `raid10`, `raidz-1` …). Default `raid0`.
    pub raid: Option<String>,
    /// Render `/etc/network/interfaces` with vmbr bridges on this node.
    #[serde(default)]
    pub manage_bridges: bool,
    /// How the first SSH contact as root authenticates (default: key from the answer file).
    #[serde(default)]
    pub first_contact: FirstContact,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Filesystem {
    #[default]
    Zfs,
    Ext4,
    Xfs,
    Btrfs,
}

impl Filesystem {
    pub fn as_str(&self) -> &'static str {
        match self {
            Filesystem::Zfs => "zfs",
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
            Filesystem::Btrfs => "btrfs",
        }
    }
}

/// How a phase authenticates the very first time it reaches a host.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FirstContact {
    /// `key` (default: the operator's key, as installed by the answer file's root-ssh-keys),
    /// or `password` (root password read from `password`).
    #[serde(default)]
    pub method: FirstContactMethod,
    /// User for first contact (default `root`). A Pi image may ship another sudo user.
    pub user: Option<String>,
    /// Where the first-contact password comes from (needed when method = password).
    pub password: Option<SecretRef>,
    /// Host-key policy for a host with no pin: `pinned` (default: refuse) or `accept-new`.
    #[serde(default)]
    pub host_key: HostKeyPolicy,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FirstContactMethod {
    #[default]
    Key,
    Password,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Only connect to hosts whose key is already pinned in the known-hosts file.
    #[default]
    Pinned,
    /// Pin the key of a host never seen before; a *changed* key is still refused.
    AcceptNew,
}

/// The Raspberry Pi (or any Debian box) running corosync-qnetd: the third vote.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QDevice {
    pub name: String,
    /// Address on the mgmt network; the nodes reach qnetd (TCP 5403) here.
    pub address: String,
    #[serde(default)]
    pub first_contact: FirstContact,
    /// QDevice algorithm. Default `ffsplit` (even node counts). `lms` allows odd counts.
    #[serde(default)]
    pub algorithm: QDeviceAlgorithm,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QDeviceAlgorithm {
    #[default]
    Ffsplit,
    Lms,
}

/// The NAS serving NFS exports (not managed, only referenced and checked).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Nas {
    pub name: String,
    pub address: String,
}

/// Settings for provision-iso.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Root password of the installed nodes, hashed into the answer file (SHA-512 crypt).
    pub root_password: Option<SecretRef>,
    /// `dhcp` (default) or `static` (cidr/gateway/dns from the mgmt network and link0).
    #[serde(default)]
    pub network: InstallNetwork,
    /// URL of the answer server as the installer reaches it, e.g. `http://192.168.10.2:8000`.
    /// The post-installation webhook is `<answer_url>/webhook`.
    pub answer_url: Option<String>,
    /// Bearer token shared with the answer server (env/file; never written to the answer file
    /// except as the webhook `auth-token` the installer echoes back).
    pub token: Option<SecretRef>,
    /// first-boot ordering: `before-network`, `network-online`, `fully-up` (default).
    pub first_boot_ordering: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstallNetwork {
    #[default]
    Dhcp,
    Static,
}

/// A secret *named*, never stored: exactly one of `env` / `file`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(default)]
    pub nfs: Vec<NfsStorage>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NfsStorage {
    /// Storage ID in Proxmox (`nas-backup`).
    pub id: String,
    pub server: String,
    pub export: String,
    /// Mount point; default `/mnt/pve/<id>` (fixed after creation).
    pub path: Option<String>,
    /// Content types: images, rootdir, vztmpl, iso, backup, snippets, import.
    pub content: Vec<String>,
    /// NFS mount options, e.g. `vers=4.2,soft`.
    pub options: Option<String>,
    /// Restrict to these nodes (default: all).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Create template/iso, template/cache, snippets … directories on the share.
    #[serde(default)]
    pub create_subdirs: bool,
    #[serde(default)]
    pub prune_backups: Option<Retention>,
}

/// ZFS dataset properties set on every node (only where they differ).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZfsProperties {
    /// e.g. `rpool/data`
    pub dataset: String,
    /// e.g. { compression = "lz4", atime = "off" }
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplicationJob {
    /// Guest (VM/CT) id, ≥ 100.
    pub guest: u32,
    /// Job number; the PVE job id is `<guest>-<job>` (default 0).
    #[serde(default)]
    pub job: u32,
    /// Target node name (must be a cluster node other than the guest's).
    pub target: String,
    /// Calendar event, e.g. `*/5` (PVE default `*/15`).
    #[serde(default = "default_replication_schedule")]
    pub schedule: String,
    /// Rate limit in MB/s (≥ 1); absent = unlimited.
    pub rate: Option<f64>,
    pub comment: Option<String>,
    /// Node the guest lives on (default: the master).
    pub source: Option<String>,
    /// With `configure-storage --create-test-guest`: create this guest if missing.
    #[serde(default)]
    pub test_guest: bool,
}

fn default_replication_schedule() -> String {
    "*/15".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackupJob {
    /// Explicit job id (`weekly-all`): makes create/update idempotent.
    pub id: String,
    /// Target storage id (must be declared or be a node-local storage like `local`).
    pub storage: String,
    /// Calendar event, e.g. `sun 02:00`.
    pub schedule: String,
    /// Selection: all guests (optionally minus `exclude`), or `vmids`.
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub vmids: Vec<u32>,
    #[serde(default)]
    pub exclude: Vec<u32>,
    #[serde(default = "default_backup_mode")]
    pub mode: String,
    #[serde(default = "default_compress")]
    pub compress: String,
    #[serde(default)]
    pub retention: Retention,
    /// `auto` (default), `legacy-sendmail`, `notification-system`.
    #[serde(default = "default_notification_mode")]
    pub notification_mode: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub comment: Option<String>,
}

fn default_backup_mode() -> String {
    "snapshot".into()
}
fn default_compress() -> String {
    "zstd".into()
}
fn default_notification_mode() -> String {
    "auto".into()
}
fn default_true() -> bool {
    true
}

/// Retention (`prune-backups`): keep-last/-daily/-weekly/-monthly/-yearly.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    pub memory: Option<MemoryMonitoring>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryMonitoring {
    /// Cron interval in minutes (reference setup: 5).
    #[serde(default = "default_interval")]
    pub interval_minutes: u32,
    /// Warn when used memory exceeds this percentage (reference setup: 90).
    #[serde(default = "default_threshold")]
    pub threshold_percent: u8,
    /// Extra packages for monitoring (e.g. `sysstat`).
    #[serde(default)]
    pub packages: Vec<String>,
}

fn default_interval() -> u32 {
    5
}
fn default_threshold() -> u8 {
    90
}

impl Inventory {
    /// The node with role `master` (validation guarantees exactly one).
    pub fn master(&self) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.role == Role::Master)
            .expect("validated inventory has exactly one master")
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// `pve-node1.home.arpa`
    pub fn fqdn(&self, host: &str) -> String {
        format!("{}.{}", host, self.cluster.domain)
    }
}
