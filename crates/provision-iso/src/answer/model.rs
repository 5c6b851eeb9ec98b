//! The answer-file schema as strict serde types (auto-install.md §2).
//!
//! This mirrors `proxmox-installer-types` 0.1.x as built for the installer (feature `legacy`):
//! kebab-case keys, `deny_unknown_fields` everywhere, the exact snake_case aliases of §2.10
//! and nothing more. Struct and enum *names* matter too: serde puts them into messages such
//! as ``invalid type: string "x", expected struct GlobalOptions``, and we want the same text
//! the installer prints. Field order matters for ``expected one of …`` lists.
//!
//! Parsing a whole file with these types gives exactly the first error the installer would
//! report; `check.rs` walks the document to find *every* problem with its position.

use serde::{de, Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::net::{Cidr, Fqdn};

/// Top level of `answer.toml` (§2.1).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AutoInstallerConfig {
    pub global: GlobalOptions,
    pub network: NetworkConfig,
    #[serde(rename = "disk-setup")]
    pub disks: DiskSetup,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_installation_webhook: Option<PostNotificationHookInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_boot: Option<FirstBootHookInfo>,
}

/// `[global]` (§2.2).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GlobalOptions {
    pub country: String,
    pub fqdn: FqdnConfig,
    pub keyboard: KeyboardLayout,
    pub mailto: String,
    pub timezone: String,
    #[serde(alias = "root_password", skip_serializing_if = "Option::is_none")]
    pub root_password: Option<String>,
    #[serde(alias = "root_password_hashed", skip_serializing_if = "Option::is_none")]
    pub root_password_hashed: Option<String>,
    #[serde(default, alias = "reboot_on_error")]
    pub reboot_on_error: bool,
    #[serde(default, alias = "reboot_mode")]
    pub reboot_mode: RebootMode,
    #[serde(default, alias = "root_ssh_keys")]
    pub root_ssh_keys: Vec<String>,
    #[serde(default, alias = "subscription_key", skip_serializing_if = "Option::is_none")]
    pub subscription_key: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum RebootMode {
    #[default]
    Reboot,
    PowerOff,
}

/// `global.fqdn`: a fixed name or `{ source = "from-dhcp", domain = … }` (§2.3). Any failure
/// gives the one generic message (typo "extendend" included, as the installer prints it).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum FqdnConfig {
    Simple(Fqdn),
    FromDhcp(FqdnFromDhcpConfig),
}

pub const FQDN_MESSAGE: &str =
    "either a fully-qualified domain name or extendend configuration for usage with DHCP must be specified";

impl<'de> Deserialize<'de> for FqdnConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Simple(String),
            FromDhcp(FqdnFromDhcpConfig),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Simple(s)) => s.parse::<Fqdn>().map(FqdnConfig::Simple).map_err(|_| de::Error::custom(FQDN_MESSAGE)),
            Ok(Raw::FromDhcp(c)) => Ok(FqdnConfig::FromDhcp(c)),
            Err(_) => Err(de::Error::custom(FQDN_MESSAGE)),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FqdnFromDhcpConfig {
    #[serde(default)]
    pub source: FqdnSourceMode,
    /// An empty string counts as absent (§2.3).
    #[serde(default, deserialize_with = "non_empty")]
    pub domain: Option<String>,
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FqdnSourceMode {
    #[default]
    FromDhcp,
}

/// `[network]`, internally tagged by `source` (§2.4).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, tag = "source")]
pub enum NetworkConfig {
    FromDhcp(NetworkConfigFromDhcp),
    FromAnswer(NetworkConfigFromAnswer),
}

impl NetworkConfig {
    pub fn pinning(&self) -> Option<&NetworkInterfacePinningOptionsAnswer> {
        match self {
            NetworkConfig::FromDhcp(c) => c.interface_name_pinning.as_ref(),
            NetworkConfig::FromAnswer(c) => c.interface_name_pinning.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetworkConfigFromDhcp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name_pinning: Option<NetworkInterfacePinningOptionsAnswer>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetworkConfigFromAnswer {
    pub cidr: Cidr,
    pub dns: IpAddr,
    pub gateway: IpAddr,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name_pinning: Option<NetworkInterfacePinningOptionsAnswer>,
}

/// `network.interface-name-pinning` (§2.5).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetworkInterfacePinningOptionsAnswer {
    pub enabled: bool,
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
}

/// `[disk-setup]` (§2.6).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DiskSetup {
    pub filesystem: Filesystem,
    #[serde(default, alias = "disk_list")]
    pub disk_list: Vec<String>,
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    #[serde(alias = "filter_match", skip_serializing_if = "Option::is_none")]
    pub filter_match: Option<FilterMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zfs: Option<ZfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvm: Option<LvmOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btrfs: Option<BtrfsOptions>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Filesystem {
    Ext4,
    Xfs,
    Zfs,
    Btrfs,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum FilterMatch {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ZfsOptions {
    pub raid: Option<ZfsRaidLevel>,
    pub ashift: Option<u32>,
    #[serde(alias = "arc_max")]
    pub arc_max: Option<u32>,
    pub checksum: Option<ZfsChecksumOption>,
    pub compress: Option<ZfsCompressOption>,
    pub copies: Option<u32>,
    pub hdsize: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LvmOptions {
    pub hdsize: Option<f64>,
    pub swapsize: Option<f64>,
    pub maxroot: Option<f64>,
    pub maxvz: Option<f64>,
    pub minfree: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BtrfsOptions {
    pub hdsize: Option<f64>,
    pub raid: Option<BtrfsRaidLevel>,
    pub compress: Option<BtrfsCompressOption>,
}

/// ZFS RAID levels: exactly an upper- and a lower-case spelling each (§2.9).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ZfsRaidLevel {
    #[serde(alias = "raid0")]
    Raid0,
    #[serde(alias = "raid1")]
    Raid1,
    #[serde(alias = "raid10")]
    Raid10,
    #[serde(alias = "raidz-1", rename = "RAIDZ-1")]
    RaidZ,
    #[serde(alias = "raidz-2", rename = "RAIDZ-2")]
    RaidZ2,
    #[serde(alias = "raidz-3", rename = "RAIDZ-3")]
    RaidZ3,
}

impl ZfsRaidLevel {
    /// `RaidLevel::get_min_disks` (§2.6).
    pub fn min_disks(self) -> usize {
        match self {
            ZfsRaidLevel::Raid0 => 1,
            ZfsRaidLevel::Raid1 => 2,
            ZfsRaidLevel::Raid10 => 4,
            ZfsRaidLevel::RaidZ => 3,
            ZfsRaidLevel::RaidZ2 => 4,
            ZfsRaidLevel::RaidZ3 => 5,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ZfsRaidLevel::Raid0 => "RAID0",
            ZfsRaidLevel::Raid1 => "RAID1",
            ZfsRaidLevel::Raid10 => "RAID10",
            ZfsRaidLevel::RaidZ => "RAIDZ-1",
            ZfsRaidLevel::RaidZ2 => "RAIDZ-2",
            ZfsRaidLevel::RaidZ3 => "RAIDZ-3",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum BtrfsRaidLevel {
    #[serde(alias = "raid0")]
    Raid0,
    #[serde(alias = "raid1")]
    Raid1,
    #[serde(alias = "raid10")]
    Raid10,
}

impl BtrfsRaidLevel {
    pub fn min_disks(self) -> usize {
        match self {
            BtrfsRaidLevel::Raid0 => 1,
            BtrfsRaidLevel::Raid1 => 2,
            BtrfsRaidLevel::Raid10 => 4,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BtrfsRaidLevel::Raid0 => "RAID0",
            BtrfsRaidLevel::Raid1 => "RAID1",
            BtrfsRaidLevel::Raid10 => "RAID10",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ZfsChecksumOption {
    On,
    Fletcher4,
    Sha256,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ZfsCompressOption {
    On,
    Off,
    Lzjb,
    Lz4,
    Zle,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BtrfsCompressOption {
    On,
    Off,
    Zlib,
    Lzo,
    Zstd,
}

/// Keyboard layouts (§2.9), the `kmap` keys of the installer's locale data.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum KeyboardLayout {
    De,
    DeCh,
    Dk,
    EnGb,
    EnUs,
    Es,
    Fi,
    Fr,
    FrBe,
    FrCa,
    FrCh,
    Hu,
    Is,
    It,
    Jp,
    Lt,
    Mk,
    Nl,
    No,
    Pl,
    Pt,
    PtBr,
    Se,
    Si,
    Tr,
}

/// `[post-installation-webhook]` (§2.7).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PostNotificationHookInfo {
    pub url: String,
    #[serde(alias = "cert_fingerprint", skip_serializing_if = "Option::is_none")]
    pub cert_fingerprint: Option<String>,
    #[serde(alias = "auth_token", skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
}

/// `[first-boot]` (§2.8).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FirstBootHookInfo {
    pub source: FirstBootHookSourceMode,
    #[serde(default)]
    pub ordering: FirstBootHookServiceOrdering,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(alias = "cert_fingerprint", skip_serializing_if = "Option::is_none")]
    pub cert_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FirstBootHookSourceMode {
    FromUrl,
    FromIso,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FirstBootHookServiceOrdering {
    BeforeNetwork,
    NetworkOnline,
    #[default]
    FullyUp,
}

impl FirstBootHookServiceOrdering {
    pub fn as_str(self) -> &'static str {
        match self {
            FirstBootHookServiceOrdering::BeforeNetwork => "before-network",
            FirstBootHookServiceOrdering::NetworkOnline => "network-online",
            FirstBootHookServiceOrdering::FullyUp => "fully-up",
        }
    }
}
