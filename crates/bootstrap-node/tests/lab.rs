//! bootstrap-node against the lab's fresh `pve` hosts (issue 5 "Tests").
//!
//! One lab, one test function, steps in order: each step starts from the state the previous
//! one left (fresh → bootstrapped → converged → drifted → repaired → faults). Lab tests hold
//! the machine-wide lab lock (lab::testing) and skip outside CI when not root.

use bootstrap_node::{automation_keys, run_node, Options};
use common::access;
use common::engine::Mode;
use common::inventory::HostKeyPolicy;
use common::secret::Secret;
use common::ssh::{Auth, Session, SshError, SshTarget};
use lab::testing::{Fault, LabGuard, LabOptions};
use serde_json::Value;
use std::process::Output;

const NODES: [&str; 2] = ["pve-node1", "pve-node2"];

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

fn bootstrap(lab: &LabGuard, args: &[&str]) -> Run {
    let bin = LabGuard::workspace_bin("bootstrap-node").expect("cargo build --workspace first");
    let out: Output = lab.command(bin).arg("-i").arg(lab.inventory()).arg("--json").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout: {}; stderr: {stderr}", String::from_utf8_lossy(&out.stdout)));
    Run { code: out.status.code().unwrap_or(-1), json, stderr }
}

fn host<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.json["hosts"].as_array().unwrap().iter().find(|h| h["host"] == name).unwrap_or_else(|| panic!("{name} not in {}", r.json))
}

fn resource<'a>(h: &'a Value, id_part: &str) -> &'a Value {
    h["resources"].as_array().unwrap().iter().find(|r| r["id"].as_str().unwrap().contains(id_part)).unwrap_or_else(|| panic!("{id_part} not in {h}"))
}

fn target(lab: &LabGuard, name: &str, user: &str, auth: Auth) -> SshTarget {
    let addr = if name == "pve-node1" { "10.231.10.11" } else { "10.231.10.12" };
    let mut t = SshTarget::new(name, addr, user, auth, lab.known_hosts());
    t.host_key_policy = HostKeyPolicy::Pinned;
    t.connect_timeout = std::time::Duration::from_secs(5);
    t
}

fn secret(lab: &LabGuard, var: &str) -> String {
    lab.secrets().into_iter().find(|(k, _)| k == var).map(|(_, v)| v).unwrap_or_else(|| panic!("{var} not in secrets.env"))
}

#[test]
fn fresh_nodes_bootstrap_converge_drift_and_faults() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default().no_nas()) else { return };

    // --- fresh nodes: bootstrap them ---------------------------------------------------------
    let first = bootstrap(&lab, &[]);
    assert_eq!(first.code, 0, "first run failed: {}\n{}", first.json, first.stderr);
    for n in NODES {
        let h = host(&first, n);
        assert!(h["changed"].as_u64().unwrap() > 5, "{n}: {h}");
        assert_eq!(h["failed"], 0, "{h}");
        // The engine batches consecutive changes (issue 10): as root, observe + one batch +
        // verify; as the automation user, observe + packages + the sshd drop-in (install,
        // record proven) + one batch for the rest + verify. Unbatched, this was 29.
        assert!(h["round_trips"].as_u64().unwrap() <= 9, "{n}: batching regressed: {h}");
    }

    // the automation user logs in with its key and sudo works without a password
    for n in NODES {
        let t = target(&lab, n, "homelab", Auth::KeyFile(lab.identity_file()));
        let s = Session::connect(&t).unwrap();
        let out = s.exec("sudo -n true && id -un", None).unwrap();
        assert!(out.success(), "{n}: sudo -n: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "homelab");
    }
    // root password login is refused now (it worked on the fresh install)
    let pw = secret(&lab, "PROXMOX_ROOT_PASSWORD");
    match Session::connect(&target(&lab, "pve-node1", "root", Auth::Password(Secret::new(pw.clone())))) {
        Err(SshError::AuthFailed { .. }) => {}
        Err(e) => panic!("expected an authentication failure, got {e}"),
        Ok(_) => panic!("root password login still works after hardening"),
    }
    // repositories: enterprise disabled but kept, no-subscription present
    let ent = lab.sh_ok("pve-node1", "cat /etc/apt/sources.list.d/pve-enterprise.sources").unwrap();
    assert!(ent.contains("Enabled: no") && ent.contains("enterprise.proxmox.com"), "{ent}");
    let pve = lab.sh_ok("pve-node1", "cat /etc/apt/sources.list.d/proxmox.sources").unwrap();
    assert!(pve.contains("Components: pve-no-subscription"), "{pve}");
    let ceph = lab.sh_ok("pve-node1", "cat /etc/apt/sources.list.d/ceph.sources").unwrap();
    assert!(ceph.contains("ceph-squid") && ceph.contains("no-subscription"), "{ceph}");
    // names resolve on both links, and the QDevice too
    let g = lab.sh_ok("pve-node1", "getent hosts pve-node2; getent hosts pve-node2-link1; getent hosts qdevice1").unwrap();
    assert!(g.contains("10.231.10.12") && g.contains("10.231.1.12") && g.contains("10.231.10.5"), "{g}");
    // the inventory's packages (hidden in the fresh image) are installed
    lab.sh_ok("pve-node2", "dpkg-query -W -f='${db:Status-Abbrev}' rsync | grep -q '^ii'").unwrap();
    assert!(lab.sh_ok("pve-node1", "cat /var/lib/homelab-iac/bootstrap-node.done").unwrap().contains("tool=bootstrap-node"));

    // --- second run: zero changes, ONE round trip per node ----------------------------------
    let second = bootstrap(&lab, &[]);
    assert_eq!(second.code, 0, "{}", second.json);
    assert_eq!(second.json["changes"], 0, "second run must change nothing: {}", second.json);
    for n in NODES {
        assert_eq!(host(&second, n)["round_trips"], 1, "{n}: {}", host(&second, n));
    }
    eprintln!(
        "converged re-run: {}",
        NODES.iter().map(|n| format!("{n} {} ms", host(&second, n)["elapsed_ms"])).collect::<Vec<_>>().join(", ")
    );
    let check = bootstrap(&lab, &["--check"]);
    assert_eq!(check.code, 0, "--check on a converged lab: {}", check.json);

    // --- drift: edited drop-in + stray key → --check exits 2 with diffs; apply repairs --------
    lab.sh_ok("pve-node1", "sed -i 's/^MaxAuthTries .*/MaxAuthTries 9/' /etc/ssh/sshd_config.d/00-homelab-iac.conf").unwrap();
    lab.sh_ok("pve-node1", "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvqnlWeatUYARzjd5oVh6cTXPvXiWMU5A5cGFNv stray@nowhere' >> /home/homelab/.ssh/authorized_keys").unwrap();
    let drift = bootstrap(&lab, &["--check", "--node", "pve-node1"]);
    assert_eq!(drift.code, 2, "{}", drift.json);
    let h = host(&drift, "pve-node1");
    let sshd = resource(h, "sshd /etc/ssh/sshd_config.d/00-homelab-iac.conf");
    assert_eq!(sshd["outcome"], "would_change");
    assert!(sshd["diff"].as_str().unwrap().contains("-MaxAuthTries 9"), "{sshd}");
    let keys = resource(h, "/home/homelab/.ssh/authorized_keys");
    assert_eq!(keys["outcome"], "would_change");
    assert!(keys["diff"].as_str().unwrap().contains("-ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4oRhvq"), "{keys}");
    assert_eq!(drift.json["hosts"].as_array().unwrap().len(), 1, "--node limits the run");
    let repair = bootstrap(&lab, &["--node", "pve-node1"]);
    assert_eq!(repair.code, 0, "{}", repair.json);
    assert_eq!(bootstrap(&lab, &["--check"]).code, 0, "repaired");
    assert!(!lab.sh_ok("pve-node1", "cat /home/homelab/.ssh/authorized_keys").unwrap().contains("stray@nowhere"));

    // --- an invalid sshd setting is rejected by sshd -t and never installed ------------------
    let mut loaded = common::inventory::load(&lab.inventory()).unwrap();
    loaded.inv.automation.known_hosts = Some(lab.known_hosts());
    let keys = automation_keys(&loaded).unwrap();
    let node = access::host(&loaded, "pve-node1").unwrap();
    let before = lab.sh_ok("pve-node1", "sha256sum /etc/ssh/sshd_config.d/00-homelab-iac.conf").unwrap();
    let bad = Options { sshd_extra_lines: vec!["NoSuchOption yes".into()], ..Options::default() };
    let r = run_node(&loaded, &node, &keys, &bad, Mode::Apply);
    let failed = r.results.iter().find(|x| x.id.starts_with("sshd ")).unwrap();
    let why = format!("{:?}", failed.outcome);
    assert!(why.contains("sshd -t rejected") && why.contains("NoSuchOption"), "{why}");
    assert_eq!(lab.sh_ok("pve-node1", "sha256sum /etc/ssh/sshd_config.d/00-homelab-iac.conf").unwrap(), before);
    let s = access::connect_automation(&loaded, "pve-node1").expect("the node stays reachable");
    assert!(s.exec("sudo -n true", None).unwrap().success());
    drop(s);

    // --- opt-in features: bridges (rendered + validated, not applied in the lab) and the
    //     subscription-notice patch (backup kept); both converge on a second run ----------------
    let mut opt_in = loaded.clone();
    opt_in.inv.defaults.remove_subscription_notice = true;
    opt_in.inv.networks.mgmt.bridge = Some("vmbr1".into());
    opt_in.inv.networks.prod.bridge = Some("vmbr0".into());
    for n in opt_in.inv.nodes.iter_mut() {
        n.manage_bridges = true;
    }
    let r = run_node(&opt_in, &node, &keys, &Options::default(), Mode::Apply);
    assert!(!r.has_failures(), "{}", r.render(1));
    let js = lab.sh_ok("pve-node1", "cat /usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js").unwrap();
    assert!(js.contains("homelab-iac: subscription notice removed */ false"), "patched");
    lab.sh_ok("pve-node1", "test -f /usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js.homelab-iac.bak").unwrap();
    let ifaces = lab.sh_ok("pve-node1", "cat /etc/network/interfaces").unwrap();
    assert!(ifaces.contains("iface vmbr1 inet static\n\taddress 10.231.10.11/24"), "{ifaces}");
    lab.sh_ok("pve-node1", "test -f /etc/network/interfaces.homelab-iac.bak && ip -o addr show eth0 | grep -q 10.231.10.11").unwrap();
    let again = run_node(&opt_in, &node, &keys, &Options::default(), Mode::Apply);
    assert_eq!((again.changes(), again.round_trips), (0, 1), "{}", again.render(1));

    // --- unreachable node: it fails clearly, the other completes, exit 1 ----------------------
    lab.fault(Fault::Stop("pve-node2")).unwrap();
    let partial = bootstrap(&lab, &[]);
    assert_eq!(partial.code, 1, "{}", partial.json);
    let err = host(&partial, "pve-node2")["error"].as_str().unwrap().to_string();
    assert!(err.contains("pve-node2") && (err.contains("no SSH answer") || err.contains("refused") || err.contains("cannot connect")), "{err}");
    assert_eq!(host(&partial, "pve-node1")["failed"], 0, "{}", partial.json);
    assert!(host(&partial, "pve-node1")["error"].is_null());
    lab.down().unwrap();
}
