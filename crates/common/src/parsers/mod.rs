//! Pure parsers of command output and Proxmox file formats: the "parser" half of every fact
//! (DESIGN.md "The engine: facts = command + pure parser").
//!
//! Every parser is a function from `&str` to a typed, `Serialize`-able value or a
//! [`ParseError`] that names the input, the line, the offending text and the research section
//! whose layout was expected. No I/O, and no panics on any input (enforced by
//! `tests/parsers_robustness.rs`: truncations, mutations and garbage for every fixture).
//! Fixtures — the exact layouts from the research digest — live in
//! `tests/fixtures/parsers/`.
//!
//! | command / file | parser | layout |
//! |---|---|---|
//! | `pvecm status` | [`quorum::parse_pvecm_status`] → [`quorum::PvecmStatus`] | pve-cli.md §2.5 |
//! | `corosync-quorumtool -s` (`-i`, `-H` optional) | [`quorum::parse_quorumtool_status`] → [`quorum::QuorumStatus`] | pve-cli.md §3.1, §2.5 |
//! | `pvecm nodes` = `corosync-quorumtool -l` | [`quorum::parse_quorumtool_list`] → [`quorum::Membership`] | pve-cli.md §2.5 |
//! | `corosync-cfgtool -s` (`-b` optional) | [`cfgtool::parse_cfgtool_status`] → [`cfgtool::LinkStatusReport`] | pve-cli.md §3.2 |
//! | `corosync-cfgtool -n` | [`cfgtool::parse_cfgtool_nodes`] → [`cfgtool::NodeStatusReport`] | pve-cli.md §3.2 |
//! | `corosync-qdevice-tool -s [-v]` | [`qdevice::parse_qdevice_tool_status`] → [`qdevice::QdeviceStatus`] | pve-cli.md §3.3 |
//! | `corosync-qnetd-tool -s` | [`qdevice::parse_qnetd_tool_status`] → [`qdevice::QnetdStatus`] | pve-cli.md §3.4 |
//! | `corosync-qnetd-tool -l [-v]` | [`qdevice::parse_qnetd_tool_list`] → `Vec<`[`qdevice::QnetdCluster`]`>` | pve-cli.md §3.4 |
//! | `pvesm status` (both header variants) | [`pvesm::parse_pvesm_status`] → `Vec<`[`pvesm::PvesmStatusEntry`]`>` | pve-cli.md §4.1 |
//! | `pvesr list` | [`pvesr::parse_pvesr_list`] → `Vec<`[`pvesr::PvesrListEntry`]`>` | pve-cli.md §5.2 |
//! | `pvesr status` | [`pvesr::parse_pvesr_status`] → `Vec<`[`pvesr::PvesrStatusEntry`]`>` | pve-cli.md §5.2 |
//! | `pvesh get /cluster/status --output-format json` | [`pvesh::cluster::parse_cluster_status`] → [`pvesh::cluster::ClusterStatus`] | pve-cli.md §7.1 |
//! | `pvesh get /cluster/config/nodes …` | [`pvesh::cluster::parse_cluster_config_nodes`] → `Vec<`[`pvesh::cluster::CorosyncNode`]`>` | pve-cli.md §2.11 |
//! | `pvesh get /cluster/config/qdevice …` | [`pvesh::cluster::parse_cluster_config_qdevice`] → `Option<`[`pvesh::cluster::QdeviceApiStatus`]`>` | pve-cli.md §2.11 |
//! | `pvesh get /nodes …` | [`pvesh::cluster::parse_nodes`] → `Vec<`[`pvesh::cluster::NodeInfo`]`>` | pve-cli.md §7.2 |
//! | `pvesh get /nodes/<n>/storage …` | [`pvesh::storage::parse_node_storage`] → `Vec<`[`pvesh::storage::NodeStorage`]`>` | pve-cli.md §4.1 |
//! | `pvesh get /storage …` / `/storage/<id>` | [`pvesh::storage::parse_storage_config`] / [`pvesh::storage::parse_storage_config_entry`] → [`pvesh::storage::StorageConfig`] | pve-cli.md §4.4 |
//! | `pvesh get /cluster/replication …` | [`pvesh::replication::parse_cluster_replication`] → `Vec<`[`pvesh::replication::ReplicationJob`]`>` | pve-cli.md §5.2, §5.3 |
//! | `pvesh get /nodes/<n>/replication …` | [`pvesh::replication::parse_node_replication`] → `Vec<`[`pvesh::replication::ReplicationStatus`]`>` | pve-cli.md §5.2 |
//! | `pvesh get /cluster/backup …` / `/cluster/backup/<id>` | [`pvesh::backup::parse_cluster_backup`] / [`pvesh::backup::parse_cluster_backup_entry`] → [`pvesh::backup::BackupJob`] | pve-cli.md §6.1–6.3 |
//! | `pvenode cert info --output-format json` | [`pvesh::cert::parse_cert_info`] → `Vec<`[`pvesh::cert::CertInfo`]`>`; [`pvesh::cert::api_fingerprint`] | pve-cli.md §7.3, §2.4 |
//! | `/etc/pve/corosync.conf` | [`pve_config::parse_corosync_conf`] (pve-formats) / [`pve_config::corosync_facts`] → [`pve_config::CorosyncFacts`] | pve-cli.md §2.2 |
//! | `/etc/pve/storage.cfg`, `jobs.cfg`, `replication.cfg` | [`pve_config::parse_storage_cfg`], [`pve_config::parse_jobs_cfg`], [`pve_config::parse_replication_cfg`] (pve-formats); [`pve_config::section_facts`] | pve-cli.md §1.4, §4.2, §5.3, §6.2 |
//! | `*.sources` (deb822) | [`apt_sources::parse_apt_sources`] → `Vec<`[`apt_sources::AptSource`]`>`; [`apt_sources::parse_deb822`] | pve-cli.md §8, sources.list(5) |
//! | `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'` ([`dpkg::DPKG_QUERY_COMMAND`]) | [`dpkg::parse_dpkg_query`] → [`dpkg::DpkgPackages`] | dpkg-query(1) |
//! | `sshd -T` | [`sshd::parse_sshd_t`] → [`sshd::SshdConfig`] | sshd(8) |
//! | `getent passwd [NAME]` | [`passwd::parse_getent_passwd`] / [`passwd::parse_passwd_line`] → [`passwd::PasswdEntry`] | passwd(5) |
//! | `stat -c '%f %a %u %g %U %G %s %Y %n'` ([`stat::STAT_FORMAT`], [`stat::stat_command`]) | [`stat::parse_stat`] / [`stat::parse_stat_line`] → [`stat::StatEntry`] | defined in `stat.rs` |
//! | `/etc/hosts` | [`hosts::parse_hosts`] → [`hosts::HostsFile`] | hosts(5) |
//! | `ip -j addr` | [`ip_addr::parse_ip_addr`] → [`ip_addr::Interfaces`] | ip-address(8) |
//!
//! [`lenient`] holds the serde helpers for PVE's "number or string, 0/1 or bool, comma list"
//! JSON values (pve-cli.md §1.3); other crates deserializing API JSON can reuse them.

pub mod apt_sources;
pub mod cfgtool;
pub mod dpkg;
pub mod error;
pub mod hosts;
pub mod ip_addr;
pub mod lenient;
pub mod passwd;
pub mod pve_config;
pub mod pvesh;
pub mod pvesm;
pub mod pvesr;
pub mod qdevice;
pub mod quorum;
pub mod sshd;
pub mod stat;
mod text;

pub use error::{Layout, ParseError, Result};
