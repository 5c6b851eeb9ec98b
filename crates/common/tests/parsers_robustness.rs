//! Robustness of `common::parsers`: no parser may panic on any input.
//!
//! Every fixture under `tests/fixtures/parsers/` is fed to every parser whole, truncated at
//! every character boundary (its own parser) or at a sample of them (the others), and after
//! deterministic pseudo-random mutations (character replacement, line deletion/duplication,
//! garbage lines). A parser may return `Ok` or `Err` — it must not panic, its error must
//! render, and its `Ok` value must serialize to JSON. Also: each fixture parses `Ok` with the
//! parser it was written for, so a fixture can't silently rot.

use common::parsers::{self, *};
use std::path::Path;

type Check = fn(&str) -> Result<String, ParseError>;

fn json<T: serde::Serialize>(r: Result<T, ParseError>) -> Result<String, ParseError> {
    r.map(|v| serde_json::to_string(&v).expect("Ok values serialize"))
}

/// (fixture-name prefix it owns, name, parser)
fn parsers() -> Vec<(&'static str, &'static str, Check)> {
    vec![
        ("pvecm-status", "pvecm status", |s| json(quorum::parse_pvecm_status(s))),
        ("quorumtool-s", "quorumtool -s", |s| json(quorum::parse_quorumtool_status(s))),
        ("pvecm-nodes", "pvecm nodes", |s| json(quorum::parse_quorumtool_list(s))),
        ("cfgtool-s", "cfgtool -s", |s| json(cfgtool::parse_cfgtool_status(s))),
        ("cfgtool-n", "cfgtool -n", |s| json(cfgtool::parse_cfgtool_nodes(s))),
        ("qdevice-tool-s", "qdevice-tool -s", |s| json(qdevice::parse_qdevice_tool_status(s))),
        ("qnetd-tool-s", "qnetd-tool -s", |s| json(qdevice::parse_qnetd_tool_status(s))),
        ("qnetd-tool-l", "qnetd-tool -l", |s| json(qdevice::parse_qnetd_tool_list(s))),
        ("pvesm-status", "pvesm status", |s| json(pvesm::parse_pvesm_status(s))),
        ("pvesr-list", "pvesr list", |s| json(pvesr::parse_pvesr_list(s))),
        ("pvesr-status", "pvesr status", |s| json(pvesr::parse_pvesr_status(s))),
        ("pvesh-cluster-status", "/cluster/status", |s| json(pvesh::cluster::parse_cluster_status(s))),
        ("pvesh-cluster-config-nodes", "/cluster/config/nodes", |s| {
            json(pvesh::cluster::parse_cluster_config_nodes(s))
        }),
        ("pvesh-cluster-config-qdevice", "/cluster/config/qdevice", |s| {
            json(pvesh::cluster::parse_cluster_config_qdevice(s))
        }),
        ("pvesh-nodes", "/nodes", |s| json(pvesh::cluster::parse_nodes(s))),
        ("pvesh-node-storage", "/nodes/n/storage", |s| json(pvesh::storage::parse_node_storage(s))),
        ("pvesh-storage", "/storage", |s| json(pvesh::storage::parse_storage_config(s))),
        ("pvesh-cluster-replication", "/cluster/replication", |s| {
            json(pvesh::replication::parse_cluster_replication(s))
        }),
        ("pvesh-node-replication", "/nodes/n/replication", |s| {
            json(pvesh::replication::parse_node_replication(s))
        }),
        ("pvesh-cluster-backup", "/cluster/backup", |s| json(pvesh::backup::parse_cluster_backup(s))),
        ("pvenode-cert-info", "pvenode cert info", |s| json(pvesh::cert::parse_cert_info(s))),
        ("dpkg-query", "dpkg-query", |s| json(dpkg::parse_dpkg_query(s))),
        ("sshd-T", "sshd -T", |s| json(sshd::parse_sshd_t(s))),
        ("getent-passwd", "getent passwd", |s| json(passwd::parse_getent_passwd(s))),
        ("stat", "stat", |s| json(stat::parse_stat(s))),
        ("apt-", "deb822 sources", |s| json(apt_sources::parse_apt_sources(s))),
        ("etc-hosts", "/etc/hosts", |s| json(hosts::parse_hosts(s))),
        ("ip-j-", "ip -j addr", |s| json(ip_addr::parse_ip_addr(s))),
        ("corosync.conf", "corosync.conf", |s| json(pve_config::corosync_facts(s))),
        ("storage.cfg", "storage.cfg", |s| {
            pve_config::parse_storage_cfg(s).map(|c| serde_json::to_string(&pve_config::section_facts(&c)).unwrap())
        }),
        ("replication.cfg", "replication.cfg", |s| {
            pve_config::parse_replication_cfg(s).map(|c| serde_json::to_string(&pve_config::section_facts(&c)).unwrap())
        }),
        ("jobs.cfg", "jobs.cfg", |s| {
            pve_config::parse_jobs_cfg(s).map(|c| serde_json::to_string(&pve_config::section_facts(&c)).unwrap())
        }),
    ]
}

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parsers");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| !matches!(p.extension().and_then(|x| x.to_str()), Some("md" | "sh")))
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_string();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 40, "expected the parser fixtures, found {}", out.len());
    out
}

/// Run one parser; a panic fails the test naming parser and input.
fn run(name: &str, check: Check, input: &str, what: &str) -> Result<String, ParseError> {
    let r = std::panic::catch_unwind(|| check(input));
    match r {
        Ok(Err(e)) => {
            let rendered = e.to_string();
            assert!(rendered.starts_with("cannot parse"), "{name}: odd error rendering: {rendered}");
            Err(e)
        }
        Ok(ok) => ok,
        Err(_) => panic!("parser `{name}` panicked on {what}:\n---\n{input}\n---"),
    }
}

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const NOISE: &[char] = &[
    '\t', ' ', ':', '\n', '{', '}', '[', ']', '"', ',', '0', '9', 'x', 'é', '\u{0}', '-', '(', ')', '=', '#',
    '%', '\r', '/', '.', 'Q', '😀',
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match rng.below(4) {
        0 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(chars.len());
                if let Some(c) = chars.get_mut(i) {
                    *c = NOISE[rng.below(NOISE.len())];
                }
            }
            chars.into_iter().collect()
        }
        1 => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                lines.remove(i);
            }
            lines.join("\n")
        }
        2 => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                let l = lines[i];
                lines.insert(i, l);
            }
            lines.join("\n")
        }
        _ => {
            let garbage: String = (0..rng.below(40)).map(|_| NOISE[rng.below(NOISE.len())]).collect();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let i = rng.below(lines.len() + 1);
            lines.insert(i, garbage);
            lines.join("\n")
        }
    }
}

#[test]
fn every_fixture_parses_with_its_own_parser() {
    let all = parsers();
    for (name, text) in fixtures() {
        let Some((_, pname, check)) = all.iter().find(|(prefix, _, _)| name.starts_with(prefix)) else {
            panic!("fixture {name} has no parser in this test's table — add it");
        };
        // `*-corosync-down` documents a failure mode: its parser must reject it.
        let expect_err = name.contains("corosync-down");
        match (run(pname, *check, &text, &name), expect_err) {
            (Ok(_), false) | (Err(_), true) => {}
            (Ok(_), true) => panic!("{name}: expected `{pname}` to reject it"),
            (Err(e), false) => panic!("{name}: `{pname}` failed: {e}"),
        }
    }
}

#[test]
fn truncation_never_panics() {
    let all = parsers();
    for (name, text) in fixtures() {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        for (prefix, pname, check) in &all {
            let own = name.starts_with(prefix);
            for (k, &b) in bounds.iter().enumerate() {
                if own || k % 13 == 0 {
                    let _ = run(pname, *check, &text[..b], &format!("{name} truncated at byte {b}"));
                }
            }
        }
    }
}

#[test]
fn mutations_never_panic() {
    let all = parsers();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, text) in fixtures() {
        for round in 0..150 {
            let input = mutate(&mut rng, &text);
            for (prefix, pname, check) in &all {
                if name.starts_with(prefix) || round % 10 == 0 {
                    let _ = run(pname, *check, &input, &format!("{name} mutation {round}"));
                }
            }
        }
    }
}

#[test]
fn pure_garbage_never_panics() {
    let all = parsers();
    let mut rng = Rng(42);
    let mut inputs = vec![String::new(), "\n".into(), "\0".into(), "{}".into(), "[]".into(), "null".into(), "[{}]".into()];
    for _ in 0..200 {
        let len = rng.below(200);
        inputs.push((0..len).map(|_| NOISE[rng.below(NOISE.len())]).collect());
    }
    for input in &inputs {
        for (_, pname, check) in &all {
            let _ = run(pname, *check, input, "garbage");
        }
    }
    // Keep the module path in use so `parsers::` re-exports stay part of the public surface.
    let _: Option<parsers::Layout> = None;
}
