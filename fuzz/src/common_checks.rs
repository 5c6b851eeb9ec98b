//! Fuzz checks over `common` and `pve-formats`: every output parser, the PVE file formats and
//! the inventory's value checkers.
//!
//! Each `pub fn NAME(data: &[u8])` is one fuzz target (`fuzz_targets/NAME.rs`) and is also
//! replayed on `fuzz/regressions/NAME/*` by `crates/common/tests/hostile_fuzz_regressions.rs`,
//! which includes this file by path — so it may only use `common`, `pve_formats` and
//! `serde_json` (dependencies of `common`), and `std`.
//!
//! A check *panics* when a property is broken; libFuzzer reports that as a crash. Properties:
//! * no parser panics, hangs or overflows the stack on any input;
//! * an `Err` renders as "cannot parse …", with a line number inside the input when it has one;
//! * an `Ok` value serializes to JSON (facts end up in `--json` reports);
//! * writers are stable: `write(parse(write(parse(x)))) == write(parse(x))` (corosync.conf,
//!   section config, property strings, known_hosts), so a converged file is never rewritten.

use common::parsers::{self, ParseError};

/// A fuzz check: panics when a property is broken.
pub type Check = fn(&[u8]);
type SectionParser = fn(&str) -> parsers::Result<parsers::pve_config::SectionConfig>;
type NameCheck = fn(&str) -> Result<(), String>;

/// The parsers see text; command output reaches them as (lossily decoded) UTF-8.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Lines of `s` as an error may count them (a trailing newline opens one more, empty line).
fn line_count(s: &str) -> usize {
    s.split('\n').count()
}

/// The common contract of every parser result.
fn parsed<T: serde::Serialize>(what: &str, input: &str, r: Result<T, ParseError>) -> Option<T> {
    match r {
        Ok(v) => {
            if let Err(e) = serde_json::to_string(&v) {
                panic!("{what}: Ok value does not serialize to JSON: {e}");
            }
            Some(v)
        }
        Err(e) => {
            let rendered = e.to_string();
            assert!(rendered.starts_with("cannot parse"), "{what}: odd error rendering: {rendered}");
            assert!(!e.message.trim().is_empty(), "{what}: empty error message: {rendered}");
            if let Some(l) = e.line {
                assert!(l >= 1 && l <= line_count(input), "{what}: error names line {l} of a {}-line input: {rendered}", line_count(input));
            }
            None
        }
    }
}

/// `pvecm status`, `corosync-quorumtool -s[iH]`, `pvecm nodes` / `corosync-quorumtool -l`.
pub fn quorum(data: &[u8]) {
    use parsers::quorum::*;
    let s = text(data);
    if let Some(st) = parsed("pvecm status", &s, parse_pvecm_status(&s)) {
        let _ = st.cluster.secure_auth_on();
    }
    if let Some(q) = parsed("quorumtool -s", &s, parse_quorumtool_status(&s)) {
        let m = &q.membership;
        let _ = (m.local(), m.member(1), m.member_named("pve-node1"));
        for x in &m.members {
            let _ = x.address();
        }
    }
    if let Some(m) = parsed("quorumtool -l", &s, parse_quorumtool_list(&s)) {
        for x in &m.members {
            let _ = x.address();
        }
    }
}

/// `corosync-cfgtool -s` / `-n`.
pub fn cfgtool(data: &[u8]) {
    use parsers::cfgtool::*;
    let s = text(data);
    if let Some(r) = parsed("cfgtool -s", &s, parse_cfgtool_status(&s)) {
        for l in &r.links {
            let _ = (l.all_connected(), l.peer(1));
        }
        let _ = r.link(0);
    }
    if let Some(r) = parsed("cfgtool -n", &s, parse_cfgtool_nodes(&s)) {
        let _ = r.node(1);
    }
}

/// `corosync-qdevice-tool -s[v]`, `corosync-qnetd-tool -s`, `corosync-qnetd-tool -l[v]`.
pub fn qdevice(data: &[u8]) {
    use parsers::qdevice::*;
    let s = text(data);
    if let Some(q) = parsed("qdevice-tool -s", &s, parse_qdevice_tool_status(&s)) {
        let _ = (q.is_connected(), q.algorithm_config_name(), q.qnetd_addr());
    }
    let _ = parsed("qnetd-tool -s", &s, parse_qnetd_tool_status(&s));
    if let Some(list) = parsed("qnetd-tool -l", &s, parse_qnetd_tool_list(&s)) {
        for c in &list {
            let _ = c.node_ids();
            for n in &c.nodes {
                let _ = n.client_ip();
            }
        }
    }
}

/// `pvesm status` (both header variants), `pvesr list`, `pvesr status`.
pub fn pvesm_pvesr(data: &[u8]) {
    let s = text(data);
    let _ = parsed("pvesm status", &s, parsers::pvesm::parse_pvesm_status(&s));
    let _ = parsed("pvesr list", &s, parsers::pvesr::parse_pvesr_list(&s));
    if let Some(v) = parsed("pvesr status", &s, parsers::pvesr::parse_pvesr_status(&s)) {
        for e in &v {
            let _ = (e.is_ok(), e.is_syncing());
        }
    }
    let _ = parsers::pvesr::JobId::parse(s.trim());
}

/// Every `pvesh … --output-format json` shape, `pvenode cert info`, and `ip -j addr`.
pub fn pvesh_json(data: &[u8]) {
    use parsers::pvesh::*;
    let s = text(data);
    if let Some(st) = parsed("/cluster/status", &s, cluster::parse_cluster_status(&s)) {
        let _ = (st.is_clustered(), st.local_node(), st.node("pve-node1"), st.online_nodes().count());
    }
    if let Some(nodes) = parsed("/cluster/config/nodes", &s, cluster::parse_cluster_config_nodes(&s)) {
        for n in &nodes {
            let _ = (n.link(0), n.link(1), n.link(255));
        }
    }
    if let Some(Some(q)) = parsed("/cluster/config/qdevice", &s, cluster::parse_cluster_config_qdevice(&s)) {
        let _ = (q.is_connected(), q.algorithm_config_name());
    }
    if let Some(v) = parsed("/nodes", &s, cluster::parse_nodes(&s)) {
        for n in &v {
            let _ = n.is_online();
        }
    }
    let _ = parsed("/nodes/n/storage", &s, storage::parse_node_storage(&s));
    if let Some(v) = parsed("/storage", &s, storage::parse_storage_config(&s)) {
        for e in &v {
            let _ = e.enabled();
        }
    }
    let _ = parsed("/storage/<id>", &s, storage::parse_storage_config_entry(&s));
    if let Some(v) = parsed("/cluster/replication", &s, replication::parse_cluster_replication(&s)) {
        for j in &v {
            let _ = (j.effective_schedule(), j.enabled(), j.job_id());
        }
    }
    if let Some(v) = parsed("/nodes/n/replication", &s, replication::parse_node_replication(&s)) {
        for j in &v {
            let _ = (j.has_synced(), j.is_ok());
        }
    }
    if let Some(v) = parsed("/cluster/backup", &s, backup::parse_cluster_backup(&s)) {
        for j in &v {
            let _ = j.vmids();
            if let Some(p) = &j.prune_backups {
                prune_round_trip(&p.to_property_string());
            }
        }
    }
    let _ = parsed("/cluster/backup/<id>", &s, backup::parse_cluster_backup_entry(&s));
    if let Some(certs) = parsed("pvenode cert info", &s, cert::parse_cert_info(&s)) {
        let _ = cert::api_fingerprint(&certs);
    }
    if let Some(ifs) = parsed("ip -j addr", &s, parsers::ip_addr::parse_ip_addr(&s)) {
        let addrs: Vec<_> = ifs.addresses().map(|(_, ip, _)| ip).collect();
        for ip in addrs {
            assert!(ifs.has_address(ip), "ip -j addr: listed address {ip} not found again");
            let _ = ifs.interface_with(ip).map(|i| i.is_up());
        }
    }
}

/// `prune-backups`: parse → print → parse is stable.
fn prune_round_trip(s: &str) {
    use parsers::pvesh::backup::PruneBackups;
    if let Ok(p) = PruneBackups::from_property_string(s) {
        let printed = p.to_property_string();
        let again = PruneBackups::from_property_string(&printed)
            .unwrap_or_else(|e| panic!("prune-backups: printed form {printed:?} does not re-parse: {e}"));
        assert_eq!(again.to_property_string(), printed, "prune-backups printing is not stable for {s:?}");
    }
}

/// `corosync.conf` (pve-formats reader and writer, the fact view, the typed accessors).
pub fn corosync_conf(data: &[u8]) {
    use parsers::pve_config::*;
    let s = text(data);
    let _ = parsed("corosync facts", &s, corosync_facts(&s));
    let Some(conf) = parsed_conf(&s) else { return };
    let _ = (conf.cluster_name(), conf.config_version(), conf.nodes(), conf.node("pve-node1"));
    let _ = (conf.next_free_nodeid(), conf.interfaces(), conf.quorum_device(), conf.has_quorum_device());
    let mut bumped = conf.clone();
    let _ = bumped.bump_config_version();
    let w1 = conf.write();
    let again = CorosyncConf::parse(&w1).unwrap_or_else(|e| panic!("corosync.conf: written form does not re-parse: {e:#}\n{w1}"));
    let w2 = again.write();
    assert_eq!(w1, w2, "corosync.conf writer is not stable");
}

fn parsed_conf(s: &str) -> Option<parsers::pve_config::CorosyncConf> {
    // The serializable wrapper is `corosync_facts`; the raw tree is not Serialize.
    match parsers::pve_config::parse_corosync_conf(s) {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(e.to_string().starts_with("cannot parse"), "corosync.conf: odd error {e}");
            None
        }
    }
}

/// `storage.cfg`, `jobs.cfg`, `replication.cfg` (section config reader, writer, facts).
pub fn section_config(data: &[u8]) {
    use parsers::pve_config::*;
    let s = text(data);
    let files: [(&str, SectionParser, &Schema); 3] = [
        ("storage.cfg", parse_storage_cfg, &STORAGE_CFG),
        ("jobs.cfg", parse_jobs_cfg, &JOBS_CFG),
        ("replication.cfg", parse_replication_cfg, &REPLICATION_CFG),
    ];
    for (what, parse, schema) in files {
        let cfg = match parse(&s) {
            Ok(c) => c,
            Err(e) => {
                assert!(e.to_string().starts_with("cannot parse"), "{what}: odd error {e}");
                continue;
            }
        };
        if let Err(e) = serde_json::to_string(&section_facts(&cfg)) {
            panic!("{what}: facts do not serialize: {e}");
        }
        let w1 = cfg.write(schema);
        let again = SectionConfig::parse(&w1, schema).unwrap_or_else(|e| panic!("{what}: written form does not re-parse: {e:#}\n{w1:?}"));
        assert!(again.warnings.is_empty(), "{what}: written form has ignored lines {:?}\n{w1:?}", again.warnings);
        assert_eq!(again.sections.len(), cfg.sections.len(), "{what}: sections lost in writing\n{w1:?}");
        let w2 = again.write(schema);
        assert_eq!(w1, w2, "{what}: writer is not stable");
    }
}

/// Line-oriented system output and files: `sshd -T`, dpkg-query, /etc/hosts, getent passwd,
/// stat, deb822 sources, known_hosts, PVE property strings and `--linkX` specs.
pub fn system_text(data: &[u8]) {
    use parsers::*;
    let s = text(data);
    if let Some(c) = parsed("sshd -T", &s, sshd::parse_sshd_t(&s)) {
        let _ = (c.get("permitrootlogin"), c.words("allowusers"), c.yes_no("passwordauthentication"));
    }
    if let Some(p) = parsed("dpkg-query", &s, dpkg::parse_dpkg_query(&s)) {
        let names: Vec<String> = p.installed().map(str::to_string).collect();
        for n in names {
            assert!(p.is_installed(&n), "dpkg: listed package {n} not installed");
        }
    }
    if let Some(h) = parsed("/etc/hosts", &s, hosts::parse_hosts(&s)) {
        let _ = (h.resolve("pve-node1"), h.addresses_for("localhost"));
    }
    let _ = parsed("getent passwd", &s, passwd::parse_getent_passwd(&s));
    let _ = parsed("stat", &s, stat::parse_stat(&s));
    for line in s.lines().take(8) {
        let _ = parsed("passwd line", line, passwd::parse_passwd_line(line));
        if let Some(e) = parsed("stat line", line, stat::parse_stat_line(line)) {
            let _ = e.mode_octal();
        }
    }
    let _ = parsed("deb822", &s, apt_sources::parse_deb822(&s));
    if let Some(v) = parsed("apt sources", &s, apt_sources::parse_apt_sources(&s)) {
        for src in &v {
            let _ = src.provides("http://download.proxmox.com/debian/pve", "trixie", "pve-no-subscription");
        }
    }
    known_hosts_round_trip(&s);
    for default_key in [None, Some("address")] {
        if let Ok(n) = pve_formats::property_string::normalise(&s, default_key) {
            let n2 = pve_formats::property_string::normalise(&n, default_key)
                .unwrap_or_else(|e| panic!("property string: normalised {n:?} does not re-parse: {e}"));
            assert_eq!(n, n2, "property string normalisation is not idempotent");
        }
    }
    prune_round_trip(&s);
    for n in [0u8, 1, 7] {
        let _ = pve_formats::corosync::parse_link_spec(n, &s);
    }
}

/// known_hosts: parse → render → parse gives the same entries; fingerprints never panic.
fn known_hosts_round_trip(s: &str) {
    use common::ssh::known_hosts::*;
    let entries = parse(s);
    for e in &entries {
        let _ = e.fingerprint();
    }
    let kh = KnownHosts { path: "known_hosts".into(), entries: entries.clone() };
    let rendered = kh.render();
    assert_eq!(parse(&rendered), entries, "known_hosts: render → parse changed the entries\n{rendered}");
    if let Some(e) = entries.first() {
        if let Some(h) = e.hosts.first() {
            let _ = kh.verify(h, 22, &e.key_type, &e.key);
        }
    }
}

/// The inventory's value checkers (names, addresses, keys, calendar events, ZFS properties):
/// the input is split at the first `=` into a name and a value where a checker takes two.
pub fn inventory_values(data: &[u8]) {
    use common::inventory::{calendar, names, net, pubkey, zfs_props};
    let s = text(data);
    match pubkey::PublicKey::parse(&s) {
        Ok(k) => {
            let line = k.to_line();
            let again = pubkey::PublicKey::parse(&line).unwrap_or_else(|e| panic!("public key: printed {line:?} does not re-parse: {e}"));
            assert_eq!(again, k, "public key: round trip changed the key");
            assert_eq!(again.fingerprint(), k.fingerprint());
        }
        Err(e) => assert!(!e.is_empty()),
    }
    let _ = calendar::check_calendar_event(&s);
    let checks: [NameCheck; 14] = [
        names::check_dns_label,
        names::check_dns_name,
        names::check_host_name,
        names::check_host_or_ip,
        names::check_cluster_name,
        names::check_linux_user,
        names::check_automation_user,
        names::check_env_name,
        names::check_github_user,
        names::check_storage_id,
        names::check_config_id,
        names::check_package_name,
        names::check_ifname,
        names::check_timezone,
    ];
    for c in checks {
        if let Err(e) = c(&s) {
            assert!(!e.is_empty(), "empty reason from a name check");
        }
    }
    let _ = names::check_http_url(&s);
    let _ = zfs_props::check_dataset(&s);
    if let Some((k, v)) = s.split_once('=') {
        let _ = zfs_props::check_zfs_property(k, v);
    }
    let _ = net::parse_ip(&s);
    let _ = net::Mac::parse(&s);
    if let Ok(c) = net::Cidr::parse(&s) {
        let shown = c.to_string();
        let again = net::Cidr::parse(&shown).unwrap_or_else(|e| panic!("CIDR: printed {shown:?} does not re-parse: {e}"));
        assert_eq!(again, c, "CIDR round trip");
        let _ = (c.network(), c.broadcast(), c.contains(c.addr), c.is_host(c.addr), c.overlaps(&again));
    }
}

/// Every target of this file, for the regression replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("quorum", quorum),
    ("cfgtool", cfgtool),
    ("qdevice", qdevice),
    ("pvesm_pvesr", pvesm_pvesr),
    ("pvesh_json", pvesh_json),
    ("corosync_conf", corosync_conf),
    ("section_config", section_config),
    ("system_text", system_text),
    ("inventory_values", inventory_values),
];
