//! Inventory loading beyond the fixtures: the shipped example, located serde errors, secret
//! needs of phases, the `--validate` helper and its summary.

use clap::Parser;
use common::cli::CommonArgs;
use common::inventory::{check_secrets, check_secrets_for, load, parse_str, summary, validate_outcome, LoadedInventory, SecretNeed};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn base() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/good-base.toml")).unwrap()
}

fn parse(text: &str) -> LoadedInventory {
    parse_str(text, Path::new("/etc/homelab/homelab.toml")).unwrap_or_else(|e| panic!("should load:\n{e}"))
}

/// Line (1-based) of the first line containing `needle`, and the column of `at` in it.
fn pos(text: &str, needle: &str, at: &str) -> (usize, usize) {
    let (i, line) = text.lines().enumerate().find(|(_, l)| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}"));
    (i + 1, line[..line.find(at).unwrap()].chars().count() + 1)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn args(extra: &[&str]) -> CommonArgs {
    let mut argv = vec!["phase"];
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).common
}

// ---------------------------------------------------------------------------------------------
// The example
// ---------------------------------------------------------------------------------------------

#[test]
fn the_example_homelab_validates_and_describes_the_real_homelab() {
    let path = repo_root().join("examples/homelab.toml");
    let loaded = load(&path).unwrap_or_else(|e| panic!("examples/homelab.toml must validate:\n{e}"));
    let inv = &loaded.inv;
    assert_eq!(
        summary(inv),
        "valid: cluster homelab (domain home.arpa), 2 nodes, qdevice qdevice1, 3 NFS storages, 1 replication job, 1 backup job"
    );
    let n1 = inv.node("pve-node1").unwrap();
    let n2 = inv.node("pve-node2").unwrap();
    assert_eq!((n1.link0.as_str(), n1.link1.as_str()), ("192.168.10.230", "192.168.1.230"));
    assert_eq!((n2.link0.as_str(), n2.link1.as_str()), ("192.168.10.232", "192.168.1.232"));
    assert_eq!(inv.master().name, "pve-node1");
    let q = inv.qdevice.as_ref().unwrap();
    assert_eq!(q.address, "192.168.10.164");
    assert_eq!(q.first_contact.password.as_ref().unwrap().env.as_deref(), Some("PI_ROOT_PASSWORD"));
    assert_eq!(q.first_contact.host_key, common::inventory::HostKeyPolicy::AcceptNew);
    assert_eq!(inv.nas.as_ref().unwrap().address, "192.168.1.25");
    let nfs: Vec<(&str, &str, Vec<&str>)> = inv
        .storage
        .nfs
        .iter()
        .map(|s| (s.id.as_str(), s.export.as_str(), s.content.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        nfs,
        [
            ("nas-backup", "/volume1/backups/proxmox", vec!["backup"]),
            ("nas-shared", "/volume1/homelab-shared", vec!["iso", "vztmpl", "snippets"]),
            ("nas-data", "/volume1/homelab-data", vec!["images", "rootdir"]),
        ]
    );
    let r = &inv.replication[0];
    assert_eq!((r.guest, r.target.as_str(), r.schedule.as_str(), r.rate), (900, "pve-node2", "*/5", Some(10.0)));
    let b = &inv.backup[0];
    assert_eq!(
        (b.storage.as_str(), b.schedule.as_str(), b.all, b.mode.as_str(), b.compress.as_str(), b.retention.keep_last),
        ("nas-backup", "sun 02:00", true, "snapshot", "zstd", Some(4))
    );
    assert_eq!(inv.defaults.timezone, "Australia/Brisbane");
    let m = inv.monitoring.memory.as_ref().unwrap();
    assert_eq!((m.interval_minutes, m.threshold_percent), (5, 90));
    assert_eq!(inv.install.root_password.as_ref().unwrap().env.as_deref(), Some("PROXMOX_ROOT_PASSWORD"));
    assert_eq!(inv.zfs[0].dataset, "rpool/data");
    assert_eq!(inv.zfs[0].properties["compression"], "lz4");
    assert_eq!(inv.zfs[0].properties["atime"], "off");
    assert!(common::inventory::net::Mac::parse(n1.mgmt_mac.as_deref().unwrap()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Errors found by serde, located
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_key_is_located_at_the_key() {
    let text = base().replace("link1 = \"192.168.1.232\"", "link1 = \"192.168.1.232\"\nlnk0 = \"192.168.10.240\"");
    let err = parse_str(&text, Path::new("h.toml")).unwrap_err().0;
    assert_eq!(err.len(), 1);
    assert_eq!((err[0].line, err[0].col), pos(&text, "lnk0", "lnk0"));
    assert!(err[0].message.contains("unknown field `lnk0`"), "{}", err[0].message);
    assert!(err[0].message.contains("`link0`"), "lists the valid keys: {}", err[0].message);
    assert!(err[0].to_string().starts_with(&format!("h.toml:{}:1: ", err[0].line)));
}

#[test]
fn type_error_is_located_at_the_value() {
    let text = base().replace("threshold_percent = 90", "threshold_percent = \"90%\"");
    let err = parse_str(&text, Path::new("h.toml")).unwrap_err().0;
    assert_eq!(err.len(), 1);
    assert_eq!((err[0].line, err[0].col), pos(&text, "threshold_percent", "\"90%\""));
    assert!(err[0].message.contains("invalid type: string \"90%\""), "{}", err[0].message);
    assert!(
        err[0].message.starts_with("monitoring.memory.threshold_percent: "),
        "names the key: {}",
        err[0].message
    );
    assert!(err[0].message.contains("fix the value"), "says what to do: {}", err[0].message);
}

#[test]
fn missing_key_is_located_at_its_table() {
    let text = base().replace("link1 = \"192.168.1.232\"\n", "");
    let err = parse_str(&text, Path::new("h.toml")).unwrap_err().0;
    assert_eq!(err.len(), 1);
    assert!(err[0].message.contains("missing field `link1`"), "{}", err[0].message);
    // the second [[nodes]] table
    let second_nodes = text.match_indices("[[nodes]]").nth(1).unwrap().0;
    let line = text[..second_nodes].lines().count() + 1;
    assert_eq!(err[0].line, line, "{}", err[0]);
}

#[test]
fn unreadable_file_says_how_to_point_at_one() {
    let err = load(Path::new("/nonexistent/homelab.toml")).unwrap_err().0;
    assert_eq!((err[0].line, err[0].col), (1, 1));
    assert!(err[0].message.contains("-i/--inventory"), "{}", err[0].message);
}

// ---------------------------------------------------------------------------------------------
// Phase needs: secrets
// ---------------------------------------------------------------------------------------------

fn with_secret_envs(text: &str, pve: &str, pi: &str) -> String {
    text.replace("PROXMOX_ROOT_PASSWORD", pve).replace("PI_ROOT_PASSWORD", pi)
}

#[test]
fn unset_secret_is_reported_at_its_reference_with_the_fix() {
    let text = with_secret_envs(&base(), "HIAC_T1_PVE_UNSET", "HIAC_T1_PI_UNSET");
    let loaded = parse(&text);
    let errs = check_secrets(&loaded, &[SecretNeed::InstallRootPassword, SecretNeed::QDeviceFirstContact]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    // ordered by line: the Pi's password comes first in the file
    assert_eq!((errs[0].line, errs[0].col), pos(&text, "HIAC_T1_PI_UNSET", "\"HIAC_T1_PI_UNSET\""));
    assert!(errs[0].message.contains("environment variable HIAC_T1_PI_UNSET is not set"), "{}", errs[0].message);
    assert!(errs[0].message.contains("export HIAC_T1_PI_UNSET=… (lab: source .lab/secrets.env)"), "{}", errs[0].message);
    assert!(errs[0].message.contains("first contact with qdevice1"), "{}", errs[0].message);
    assert_eq!((errs[1].line, errs[1].col), pos(&text, "HIAC_T1_PVE_UNSET", "\"HIAC_T1_PVE_UNSET\""));
    assert!(errs[1].message.contains("export HIAC_T1_PVE_UNSET=…"), "{}", errs[1].message);
    assert_eq!(errs[1].file, Path::new("/etc/homelab/homelab.toml"));
}

#[test]
fn set_secrets_pass_and_values_never_appear() {
    let text = with_secret_envs(&base(), "HIAC_T2_PVE", "HIAC_T2_PI_EMPTY");
    std::env::set_var("HIAC_T2_PVE", "correct-horse-battery-staple");
    std::env::set_var("HIAC_T2_PI_EMPTY", "");
    let loaded = parse(&text);
    assert!(check_secrets(&loaded, &[SecretNeed::InstallRootPassword]).is_empty());
    let errs = check_secrets(&loaded, &[SecretNeed::InstallRootPassword, SecretNeed::QDeviceFirstContact]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message.contains("HIAC_T2_PI_EMPTY is empty"), "{}", errs[0].message);
    for e in &errs {
        assert!(!e.to_string().contains("correct-horse"), "a secret value leaked: {e}");
    }
}

#[test]
fn secret_files_are_read_beside_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let text = base()
        .replace("root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }", "root_password = { file = \"secrets/root.pw\" }")
        .replace("password = { env = \"PI_ROOT_PASSWORD\" }", "password = { file = \"pi.pw\" }");
    let inv_path = dir.path().join("homelab.toml");
    std::fs::write(&inv_path, &text).unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/root.pw"), "s3cret-value\n").unwrap();
    std::fs::write(dir.path().join("pi.pw"), "\n").unwrap();
    let loaded = load(&inv_path).unwrap();
    let errs = check_secrets(&loaded, &[SecretNeed::InstallRootPassword, SecretNeed::QDeviceFirstContact]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].line, errs[0].col), pos(&text, "pi.pw", "\"pi.pw\""));
    assert!(errs[0].message.contains(&format!("secret file {} is empty", dir.path().join("pi.pw").display())), "{}", errs[0].message);
    std::fs::remove_file(dir.path().join("secrets/root.pw")).unwrap();
    let errs = check_secrets(&loaded, &[SecretNeed::InstallRootPassword]);
    assert!(errs[0].message.contains("cannot be read"), "{}", errs[0].message);
}

#[test]
fn a_needed_secret_that_is_not_named_is_an_error_at_its_table() {
    let text = base().replace("root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }\n", "");
    let loaded = parse(&text);
    let errs = check_secrets(&loaded, &[SecretNeed::InstallRootPassword, SecretNeed::InstallToken]);
    assert_eq!(errs.len(), 2);
    let install = pos(&text, "[install]", "[install]");
    assert!(errs.iter().all(|e| (e.line, e.col) == install), "{errs:?}");
    assert!(errs[0].message.contains("root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }") || errs[1].message.contains("root_password"));
}

#[test]
fn node_first_contact_by_password_respects_the_node_selection() {
    let text = base().replace(
        "prod_mac = \"58:47:ca:7a:2e:51\"\n",
        "prod_mac = \"58:47:ca:7a:2e:51\"\nfirst_contact = { method = \"password\", password = { env = \"HIAC_T5_NODE2_UNSET\" } }\n",
    );
    let loaded = parse(&text);
    let all = check_secrets(&loaded, &[SecretNeed::NodeFirstContact]);
    assert_eq!(all.len(), 1);
    assert!(all[0].message.contains("first contact with pve-node2"));
    assert_eq!(all[0].line, pos(&text, "HIAC_T5_NODE2_UNSET", "H").0);
    assert!(check_secrets_for(&loaded, &[SecretNeed::NodeFirstContact], &|h| h == "pve-node1").is_empty());
    // no QDevice → no QDevice need
    let no_q = parse(&base().replace("[qdevice]\nname = \"qdevice1\"\naddress = \"192.168.10.164\"\n\n[qdevice.first_contact]\nmethod = \"password\"\npassword = { env = \"PI_ROOT_PASSWORD\" }\nhost_key = \"accept-new\"\n", ""));
    assert!(no_q.inv.qdevice.is_none());
    assert!(check_secrets(&no_q, &[SecretNeed::QDeviceFirstContact]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// --validate
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_prints_the_summary_and_exits_zero() {
    let example = repo_root().join("examples/homelab.toml");
    let out = validate_outcome(&args(&["-i", example.to_str().unwrap(), "--validate"]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "valid: cluster homelab (domain home.arpa), 2 nodes, qdevice qdevice1, 3 NFS storages, 1 replication job, 1 backup job\n"
    );
    assert!(out.stderr.is_empty());
    let quiet = validate_outcome(&args(&["-i", example.to_str().unwrap(), "-q"]), &[]);
    assert_eq!((quiet.code, quiet.stdout.as_str()), (0, ""));
}

#[test]
fn validate_lists_every_problem_and_exits_one() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/bad-many.toml");
    let out = validate_outcome(&args(&["-i", bad.to_str().unwrap()]), &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stderr);
    assert!(lines[0].starts_with(&format!("error: {}:4:10: ", bad.display())), "{}", lines[0]);
    assert_eq!(lines[4], format!("invalid: 4 problems in {}", bad.display()));
}

#[test]
fn validate_checks_the_phase_needs_and_the_node_selection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homelab.toml");
    std::fs::write(&path, with_secret_envs(&base(), "HIAC_T8_PVE_UNSET", "HIAC_T8_PI_UNSET")).unwrap();
    let p = path.to_str().unwrap();
    let out = validate_outcome(&args(&["-i", p]), &[SecretNeed::QDeviceFirstContact]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("export HIAC_T8_PI_UNSET=…"), "{}", out.stderr);
    // a phase that needs nothing is fine with the same file
    assert_eq!(validate_outcome(&args(&["-i", p]), &[]).code, 0);
    // --node limits the needs to the selected hosts
    let out = validate_outcome(&args(&["-i", p, "--node", "pve-node1"]), &[SecretNeed::QDeviceFirstContact]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = validate_outcome(&args(&["-i", p, "--node", "pve-node9"]), &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--node pve-node9: no host of that name"), "{}", out.stderr);
    assert!(out.stderr.contains("pve-node1, pve-node2, qdevice1, nas"), "{}", out.stderr);
}

#[test]
fn validate_json_is_one_document() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/bad-timezone.toml");
    let out = validate_outcome(&args(&["-i", bad.to_str().unwrap(), "--json"]), &[]);
    assert_eq!(out.code, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["line"], 11);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("Area/City"));
    let good = repo_root().join("examples/homelab.toml");
    let out = validate_outcome(&args(&["-i", good.to_str().unwrap(), "--json"]), &[]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert!(v["summary"].as_str().unwrap().starts_with("valid: cluster homelab"));
}

#[test]
fn summary_counts_and_pluralises() {
    let minimal = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/good-minimal.toml");
    let loaded = load(&minimal).unwrap();
    assert_eq!(
        summary(&loaded.inv),
        "valid: cluster lab (domain lab.home.arpa), 1 node, no qdevice, 0 NFS storages, 0 replication jobs, 0 backup jobs"
    );
}
