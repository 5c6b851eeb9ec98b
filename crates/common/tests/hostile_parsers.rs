//! Hostile command output and PVE files that the fuzzers cannot reach with their small inputs
//! (issue 11 §6): very deep nesting, megabyte lines, 250k-line outputs, NUL and control bytes.
//! A compromised or broken host controls what our parsers read, so none of this may crash,
//! hang or exhaust the stack of the thread that parses it.
//!
//! Each parser runs on a thread with a 2 MiB stack — the default of `std::thread::spawn`, on
//! which the phases work their hosts — and with a generous deadline (a hang fails the test).
//! A stack overflow aborts the whole test binary: that, too, is a failure.

use common::parsers::{self, ParseError};
use std::time::Duration;

type Check = fn(&str) -> Result<String, ParseError>;

/// Error messages longer than a person reads (collected, reported at the end of a test).
static LONG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn assert_no_long_messages() {
    let long = std::mem::take(&mut *LONG.lock().unwrap());
    assert!(long.is_empty(), "{} over-long error message(s):\n{}", long.len(), long.join("\n"));
}

fn json<T: serde::Serialize>(r: Result<T, ParseError>) -> Result<String, ParseError> {
    r.map(|v| serde_json::to_string(&v).expect("Ok values serialize"))
}

fn all_parsers() -> Vec<(&'static str, Check)> {
    use parsers::*;
    vec![
        ("pvecm status", |s| json(quorum::parse_pvecm_status(s))),
        ("quorumtool -s", |s| json(quorum::parse_quorumtool_status(s))),
        ("quorumtool -l", |s| json(quorum::parse_quorumtool_list(s))),
        ("cfgtool -s", |s| json(cfgtool::parse_cfgtool_status(s))),
        ("cfgtool -n", |s| json(cfgtool::parse_cfgtool_nodes(s))),
        ("qdevice-tool -s", |s| json(qdevice::parse_qdevice_tool_status(s))),
        ("qnetd-tool -s", |s| json(qdevice::parse_qnetd_tool_status(s))),
        ("qnetd-tool -l", |s| json(qdevice::parse_qnetd_tool_list(s))),
        ("pvesm status", |s| json(pvesm::parse_pvesm_status(s))),
        ("pvesr list", |s| json(pvesr::parse_pvesr_list(s))),
        ("pvesr status", |s| json(pvesr::parse_pvesr_status(s))),
        ("/cluster/status", |s| json(pvesh::cluster::parse_cluster_status(s))),
        ("/cluster/config/nodes", |s| json(pvesh::cluster::parse_cluster_config_nodes(s))),
        ("/cluster/config/qdevice", |s| json(pvesh::cluster::parse_cluster_config_qdevice(s))),
        ("/nodes", |s| json(pvesh::cluster::parse_nodes(s))),
        ("/nodes/n/storage", |s| json(pvesh::storage::parse_node_storage(s))),
        ("/storage", |s| json(pvesh::storage::parse_storage_config(s))),
        ("/cluster/replication", |s| json(pvesh::replication::parse_cluster_replication(s))),
        ("/nodes/n/replication", |s| json(pvesh::replication::parse_node_replication(s))),
        ("/cluster/backup", |s| json(pvesh::backup::parse_cluster_backup(s))),
        ("pvenode cert info", |s| json(pvesh::cert::parse_cert_info(s))),
        ("dpkg-query", |s| json(dpkg::parse_dpkg_query(s))),
        ("sshd -T", |s| json(sshd::parse_sshd_t(s))),
        ("getent passwd", |s| json(passwd::parse_getent_passwd(s))),
        ("stat", |s| json(stat::parse_stat(s))),
        ("deb822 sources", |s| json(apt_sources::parse_apt_sources(s))),
        ("/etc/hosts", |s| json(hosts::parse_hosts(s))),
        ("ip -j addr", |s| json(ip_addr::parse_ip_addr(s))),
        ("corosync.conf facts", |s| json(pve_config::corosync_facts(s))),
        ("corosync.conf write", |s| pve_config::parse_corosync_conf(s).map(|c| c.write())),
        ("storage.cfg", |s| pve_config::parse_storage_cfg(s).map(|c| serde_json::to_string(&pve_config::section_facts(&c)).unwrap())),
        ("jobs.cfg", |s| pve_config::parse_jobs_cfg(s).map(|c| c.write(&pve_config::JOBS_CFG))),
        ("replication.cfg", |s| pve_config::parse_replication_cfg(s).map(|c| c.write(&pve_config::REPLICATION_CFG))),
    ]
}

/// Every parser on `input`, each on a 2 MiB-stack thread with a deadline. Returns how many
/// rejected it (the rest accepted it).
fn survive(name: &str, input: &str) -> usize {
    let input = std::sync::Arc::new(input.to_string());
    let mut rejected = 0;
    for (pname, check) in all_parsers() {
        let (tx, rx) = std::sync::mpsc::channel();
        let data = input.clone();
        let h = std::thread::Builder::new()
            .name(format!("{pname} on {name}"))
            .stack_size(2 << 20)
            .spawn(move || {
                let r = check(&data).map(|_| ()).map_err(|e| e.to_string());
                let _ = tx.send(r);
            })
            .unwrap();
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(r) => {
                h.join().unwrap();
                if let Err(e) = r {
                    assert!(e.starts_with("cannot parse"), "{pname} on {name}: odd error {e}");
                    if e.chars().count() > 2000 {
                        LONG.lock().unwrap().push(format!("{pname} on {name}: {} character error message: {}…", e.chars().count(), e.chars().take(150).collect::<String>()));
                    }
                    rejected += 1;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{pname} panicked on {name}: {:?}", h.join().err()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{pname} did not return within 120 s on {name}"),
        }
    }
    rejected
}

#[test]
fn deeply_nested_corosync_conf_is_rejected_not_a_stack_overflow() {
    for depth in [65, 1_000, 20_000, 250_000] {
        let text = format!("totem {{\n{}{}}}\n", "a {\n".repeat(depth), "}\n".repeat(depth));
        survive(&format!("corosync.conf nested {depth} deep"), &text);
        let e = parsers::pve_config::parse_corosync_conf(&text).unwrap_err().to_string();
        assert!(e.contains("nested deeper"), "{e}");
    }
    // Real nesting (3 levels) and a little more stay accepted.
    let ok = format!("totem {{\n{}{}}}\n", "a {\nk: v\n".repeat(10), "}\n".repeat(10));
    assert!(parsers::pve_config::parse_corosync_conf(&ok).is_ok());
    assert_no_long_messages();
}

#[test]
fn deeply_nested_json_is_rejected_by_every_json_parser() {
    for depth in [200, 100_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            survive(&format!("JSON nested {depth} deep"), &text);
        }
    }
    assert_no_long_messages();
}

#[test]
fn huge_lines_many_lines_and_binary_never_crash_or_hang() {
    let cases: Vec<(&str, String)> = vec![
        ("one 2 MiB line", "x".repeat(2 << 20)),
        ("one 2 MiB line of colons and spaces", ": ".repeat(1 << 20)),
        ("250k empty lines", "\n".repeat(250_000)),
        ("250k short lines", "Nodeid: 1\n".repeat(250_000)),
        ("50k section headers", (0..50_000).map(|i| format!("nfs: s{i}\n\tpath /x\n\n")).collect()),
        ("50k duplicate section ids", "dir: same\n\tpath /x\n\n".repeat(50_000)),
        ("50k hosts lines", (0..50_000).map(|i| format!("10.0.{}.{} h{i} h{i}.lab\n", i / 250 % 250, i % 250)).collect()),
        ("NUL bytes", "\0".repeat(1 << 20)),
        ("control bytes", (0u8..32).cycle().take(1 << 20).map(char::from).collect()),
        ("a 1 MiB JSON string", format!("[{{\"node\":\"{}\"}}]", "n".repeat(1 << 20))),
        ("25k JSON entries", format!("[{}]", vec!["{\"node\":\"n\",\"type\":\"node\",\"online\":1}"; 25_000].join(","))),
        ("a number with 100k digits", format!("[{{\"nodeid\":{}}}]", "9".repeat(100_000))),
        ("RTL override and zero-width characters", "Quorate:\u{202e} Yes\u{200d}\nNodeid: \u{200b}1\n".repeat(1000)),
    ];
    let mut total = 0;
    for (name, text) in &cases {
        survive(name, text);
        total += 1;
    }
    println!("{total} hostile outputs × {} parsers survived", all_parsers().len());
    assert_no_long_messages();
}
