//! form-cluster in the lab, with real corosync, corosync-qnetd and corosync-qdevice under the
//! simulated `pvecm` (issue 7 "Tests"). One lab, one sequence (the lab is the expensive part):
//!
//!  1. bootstrap-node + bootstrap-qdevice as set-up;
//!  2. refusals before any change: master down, a link address the node does not have,
//!     qnetd stopped on the Pi (root window stays closed);
//!  3. `--check` plans create/add/qdevice setup; the run forms the cluster: 3 votes on both
//!     nodes, both links connected, no root login on the Pi afterwards;
//!  4. a second run changes nothing and costs one round trip per host;
//!  5. link0 of pve-node2 down → still quorate, link0 degraded (exit 0; `--strict` exit 1);
//!  6. pve-node2 stopped → pve-node1 quorate with 2 of 3 votes;
//!  7. rebuild: wipe + bootstrap pve-node2; without `--node` → told what to run; with it,
//!     interrupted by SIGINT inside the root window (window closed, exit 130), then re-run to
//!     3 votes — pve-node1 sampled quorate the whole time.
//!
//! And, without a lab: an odd node count with the default algorithm is rejected.

use lab::testing::{Fault, LabGuard, LabOptions, ToolRun};
use lab::topology::Link;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bin(name: &str) -> std::path::PathBuf {
    LabGuard::workspace_bin(name).unwrap_or_else(|e| panic!("{e:#} (cargo build --workspace first)"))
}

fn fc(lab: &LabGuard, args: &[&str]) -> ToolRun {
    lab.run_tool("form-cluster", &lab.inventory(), args)
}

fn field<'a>(status: &'a str, label: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(label)).map(str::trim)
}

/// `pvecm status` on `host`, asserting the vote numbers.
fn assert_votes(lab: &LabGuard, host: &str, expected: &str, total: &str) {
    let st = lab.sh(host, "pvecm status").unwrap();
    let text = String::from_utf8_lossy(&st.stdout).into_owned();
    assert_eq!(field(&text, "Quorate:"), Some("Yes"), "{host}:\n{text}");
    assert_eq!(field(&text, "Expected votes:"), Some(expected), "{host}:\n{text}");
    assert_eq!(field(&text, "Total votes:"), Some(total), "{host}:\n{text}");
    assert!(field(&text, "Flags:").unwrap_or("").contains("Qdevice"), "{host}:\n{text}");
}

fn links_connected(cfgtool: &str, link: u32) -> bool {
    let mut in_link = false;
    let mut seen = false;
    for l in cfgtool.lines() {
        if let Some(rest) = l.strip_prefix("LINK ID ") {
            in_link = rest.split_whitespace().next() == Some(&link.to_string());
            continue;
        }
        if in_link && l.contains("nodeid:") && !l.contains("localhost") {
            seen = true;
            if !l.trim_end().ends_with("connected") || l.contains("disconnected") {
                return false;
            }
        }
    }
    seen
}

fn pi_window_closed(lab: &LabGuard) {
    let keys = lab.sh("qdevice1", "cat /root/.ssh/authorized_keys 2>/dev/null || true").unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(!keys.contains("homelab-iac-temporary-root"), "temporary root keys left on the Pi:\n{keys}");
    let marker = lab.sh("qdevice1", "test -e /var/lib/homelab-iac/qdevice-root-window").unwrap();
    assert!(!marker.status.success(), "the window marker is still on the Pi");
    let prl = lab.sh_ok("qdevice1", "sshd -T 2>/dev/null | grep -i '^permitrootlogin'").unwrap();
    assert_eq!(prl.trim(), "permitrootlogin no", "sshd on the Pi");
}

/// Root on pve-node1 cannot log in to the Pi (its host key is pinned there, so a refusal is
/// an authentication refusal, not a host-key prompt).
fn no_root_login_on_pi(lab: &LabGuard) {
    let o = lab
        .sh("pve-node1", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@10.231.10.5 true 2>&1; echo exit=$?")
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!text.contains("exit=0"), "root login on the Pi still works:\n{text}");
    assert!(text.contains("Permission denied"), "expected an authentication refusal:\n{text}");
}

fn changes(j: &Value) -> u64 {
    j["changes"].as_u64().unwrap()
}

fn host<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["hosts"].as_array().unwrap().iter().find(|h| h["host"] == name).unwrap_or_else(|| panic!("no host {name} in {j}"))
}

fn notes(j: &Value, name: &str) -> String {
    host(j, name)["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join("\n")
}

/// Samples `corosync-quorumtool -s` on a host in the background; records inquorate samples.
struct QuorumSampler {
    stop: Arc<AtomicBool>,
    bad: Arc<Mutex<Vec<String>>>,
    samples: Arc<Mutex<u32>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl QuorumSampler {
    fn start(lab_bin: std::path::PathBuf, env: Vec<(String, String)>, host: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let bad = Arc::new(Mutex::new(Vec::new()));
        let samples = Arc::new(Mutex::new(0));
        let (s, b, n) = (stop.clone(), bad.clone(), samples.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let out = Command::new(&lab_bin)
                    .args(["exec", host, "--", "corosync-quorumtool", "-s"])
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output();
                if let Ok(o) = out {
                    let text = String::from_utf8_lossy(&o.stdout).into_owned();
                    if text.contains("Quorate:") {
                        *n.lock().unwrap() += 1;
                        if field(&text, "Quorate:") != Some("Yes") {
                            b.lock().unwrap().push(text);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        QuorumSampler { stop, bad, samples, handle: Some(handle) }
    }
    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        let n = *self.samples.lock().unwrap();
        let bad = self.bad.lock().unwrap().clone();
        (n, bad)
    }
}

#[test]
fn form_cluster_in_the_lab() {
    let Some(lab) = LabGuard::up_or_skip(LabOptions::default().no_nas()) else { return };
    let sequence = Instant::now();

    // --- 1. set-up: the phases before this one --------------------------------------------
    lab.run_phases(&[("bootstrap-node", &[]), ("bootstrap-qdevice", &[])]);

    // --- 2. refusals before anything changes ------------------------------------------------
    lab.fault(Fault::Stop("pve-node1")).unwrap();
    let r = fc(&lab, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("pve-node1 is the master: nothing was changed"), "{}", r.show());
    lab.fault(Fault::Start("pve-node1")).unwrap();
    let r = lab.sh("pve-node2", "test -e /etc/pve/corosync.conf || test -e /root/.ssh/id_ed25519").unwrap();
    assert!(!r.status.success(), "members must be untouched when the master is unreachable");

    // An inventory address the node does not have.
    let bad_inv = lab.lab_dir().join("bad-link.toml");
    let text = std::fs::read_to_string(lab.inventory()).unwrap();
    assert!(text.contains("\"10.231.1.12\""), "lab inventory layout changed:\n{text}");
    std::fs::write(&bad_inv, text.replace("\"10.231.1.12\"", "\"10.231.1.99\"")).unwrap();
    let r = lab.run_tool("form-cluster", &bad_inv, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(
        r.stderr.contains("pve-node2: inventory address 10.231.1.99") && r.stderr.contains("is not configured on the host"),
        "{}",
        r.show()
    );

    // qnetd stopped on the Pi: clear error, nothing changed, the root window stays closed.
    lab.sh_ok("qdevice1", "systemctl stop corosync-qnetd").unwrap();
    let r = fc(&lab, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("qdevice1: corosync-qnetd is not running"), "{}", r.show());
    assert!(!lab.sh("pve-node1", "test -e /etc/pve/corosync.conf").unwrap().status.success(), "nothing may change");
    pi_window_closed(&lab);
    lab.sh_ok("qdevice1", "systemctl start corosync-qnetd").unwrap();
    lab.wait_until("qdevice1", "corosync-qnetd-tool -s", "qnetd answering", |o| o.contains("QNetd address"));

    // --- 3. plan, then form the cluster -------------------------------------------------------
    let r = fc(&lab, &["--check", "--json"]);
    assert_eq!(r.code, 2, "{}", r.show());
    let plan = r.json().to_string();
    for step in ["pvecm create", "pvecm add", "pvecm qdevice setup"] {
        assert!(plan.contains(step), "plan lacks {step}: {plan}");
    }
    assert!(!lab.sh("pve-node1", "test -e /etc/pve/corosync.conf").unwrap().status.success(), "--check changed something");

    let r = fc(&lab, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    eprintln!("TIMING bootstrapped → verified 3-vote cluster: {:.1} s; the run's report (step durations):\n{}", r.secs, r.stdout);
    for h in ["pve-node1", "pve-node2"] {
        assert_votes(&lab, h, "3", "3");
        let cfg = lab.sh_ok(h, "corosync-cfgtool -s").unwrap();
        assert!(links_connected(&cfg, 0) && links_connected(&cfg, 1), "{h}: links\n{cfg}");
    }
    pi_window_closed(&lab);
    no_root_login_on_pi(&lab);
    let ak = lab.sh_ok("pve-node1", "cat /root/.ssh/authorized_keys").unwrap();
    assert_eq!(ak.matches("homelab-iac:form-cluster:root@").count(), 4, "2 keys per node, once each:\n{ak}");
    let kh = lab.sh_ok("pve-node2", "cat /root/.ssh/known_hosts").unwrap();
    assert!(kh.contains("pve-node1,pve-node1.") && kh.contains("10.231.10.11,10.231.1.11 ssh-ed25519"), "{kh}");
    let all = lab.sh_ok("pve-node1", "grep -rs 'StrictHostKeyChecking' /root/.ssh /etc/ssh || true").unwrap();
    assert!(!all.to_lowercase().contains("stricthostkeychecking no"), "{all}");

    // --- 4. converged: zero changes, one round trip per host ----------------------------------
    let r = fc(&lab, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.show());
    let j = r.json();
    assert_eq!(changes(&j), 0, "{j:#}");
    for h in j["hosts"].as_array().unwrap() {
        assert_eq!(h["round_trips"], 1, "{}: {h:#}", h["host"]);
    }
    eprintln!("TIMING converged re-run: {:.2} s", r.secs);
    let r = fc(&lab, &["--check"]);
    assert_eq!(r.code, 0, "{}", r.show());

    // --- 5. link0 down: still quorate, degraded → warning; --strict → failure ----------------
    lab.fault(Fault::LinkDown("pve-node2", Link::Link0)).unwrap();
    lab.wait_until("pve-node1", "corosync-cfgtool -s", "link0 disconnected", |o| !links_connected(o, 0));
    let r = fc(&lab, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.show());
    let j = r.json();
    assert!(notes(&j, "pve-node1").contains("WARNING link0"), "{j:#}");
    assert_votes(&lab, "pve-node1", "3", "3");
    let r = fc(&lab, &["--strict"]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stdout.contains("link0") && r.stdout.contains("disconnected"), "{}", r.show());
    lab.fault(Fault::LinkUp("pve-node2", Link::Link0)).unwrap();
    lab.wait_until("pve-node1", "corosync-cfgtool -s", "link0 connected again", |o| links_connected(o, 0));

    // --- 6. pve-node2 stopped: pve-node1 quorate with 2 of 3 votes ----------------------------
    lab.fault(Fault::Stop("pve-node2")).unwrap();
    let st = lab.wait_until("pve-node1", "pvecm status", "pve-node1 alone", |o| field(o, "Nodes:") == Some("1"));
    assert_eq!(field(&st, "Quorate:"), Some("Yes"), "{st}");
    assert_eq!(field(&st, "Total votes:"), Some("2"), "{st}");
    assert_eq!(field(&st, "Expected votes:"), Some("3"), "{st}");
    lab.fault(Fault::Start("pve-node2")).unwrap();
    lab.wait_until("pve-node1", "pvecm status", "3 votes again", |o| field(o, "Total votes:") == Some("3"));

    // --- 7. rebuild pve-node2 -----------------------------------------------------------------
    lab.fault(Fault::Wipe("pve-node2")).unwrap();
    lab.wait_until("pve-node1", "pvecm status", "pve-node1 alone", |o| field(o, "Nodes:") == Some("1"));
    let r = lab.run_tool("bootstrap-node", &lab.inventory(), &["--node", "pve-node2"]);
    assert_eq!(r.code, 0, "bootstrap-node after wipe: {}", r.show());
    let r = fc(&lab, &[]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("form-cluster --node pve-node2"), "{}", r.show());
    let r = fc(&lab, &["--node", "pve-node2", "--check"]);
    assert_eq!(r.code, 2, "{}", r.show());
    for step in ["pvecm delnode pve-node2", "stale host keys of pve-node2", "pvecm add", "pvecm qdevice remove", "pvecm qdevice setup", "pvecm updatecerts"] {
        assert!(r.stdout.contains(step), "rebuild plan lacks {step}:\n{}", r.show());
    }

    let sampler = QuorumSampler::start(LabGuard::lab_bin().unwrap(), lab.env(), "pve-node1");
    // Interrupted inside the root window: the window must be closed, exit 130.
    let child = start_holding_the_window(&lab, &["--node", "pve-node2"]);
    let open = lab.sh_ok("qdevice1", "cat /root/.ssh/authorized_keys").unwrap();
    assert!(open.contains("homelab-iac-temporary-root") && open.contains("from=\"10.231.10.11"), "{open}");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("root window on qdevice1 closed"), "{err}");
    pi_window_closed(&lab);

    // The re-run completes the rebuild.
    let r = fc(&lab, &["--node", "pve-node2"]);
    assert_eq!(r.code, 0, "{}", r.show());
    eprintln!("TIMING rebuild completed after the interruption: {:.1} s", r.secs);
    let (samples, inquorate) = sampler.finish();
    assert!(samples > 10, "too few quorum samples ({samples})");
    assert!(inquorate.is_empty(), "pve-node1 lost quorum during the rebuild:\n{}", inquorate.join("\n---\n"));
    for h in ["pve-node1", "pve-node2"] {
        assert_votes(&lab, h, "3", "3");
    }
    pi_window_closed(&lab);
    let r = fc(&lab, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(changes(&r.json()), 0, "{}", r.show());

    // --- 8. killed (SIGKILL: no handler can run) inside the root window ----------------------
    // The window stays open; the next run must close it before anything else. (The QDevice is
    // removed by hand first, so that the run has a `qdevice setup` to open the window for.)
    lab.sh_ok("pve-node1", "pvecm qdevice remove").unwrap();
    let mut child = start_holding_the_window(&lab, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    let open = lab.sh_ok("qdevice1", "cat /root/.ssh/authorized_keys").unwrap();
    assert!(open.contains("homelab-iac-temporary-root"), "the killed run should have left the window open: {open}");
    let r = fc(&lab, &["--check"]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stdout.contains("close root window left open (an interrupted run)"), "{}", r.show());
    let r = fc(&lab, &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stdout.contains("close root window left open (an interrupted run)"), "{}", r.show());
    pi_window_closed(&lab);
    assert_votes(&lab, "pve-node1", "3", "3");
    let r = fc(&lab, &["--json"]);
    assert_eq!((r.code, changes(&r.json())), (0, 0), "{}", r.show());

    eprintln!("TIMING whole lab sequence (after lab up): {:.0} s", sequence.elapsed().as_secs_f64());
    lab.down().unwrap();
}

/// Start form-cluster with the test hook that makes it wait once the Pi's root window is open;
/// returns when the window is open (the child is still running, holding it).
fn start_holding_the_window(lab: &LabGuard, args: &[&str]) -> std::process::Child {
    let hold = lab.lab_dir().join("hold-window");
    let _ = std::fs::remove_file(&hold);
    let mut child = lab
        .command(bin("form-cluster"))
        .arg("-i")
        .arg(lab.inventory())
        .args(args)
        .env("FORM_CLUSTER_TEST_HOLD_WINDOW", &hold)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !hold.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "form-cluster {args:?} ended ({st}) before opening the window:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "the window was never opened");
        std::thread::sleep(Duration::from_millis(100)); // polling a condition, with the deadline above
    }
    child
}

/// An odd node count with a QDevice and the default algorithm is rejected before any host is
/// contacted (the inventory rule, and form-cluster's own check).
#[test]
fn odd_node_count_is_rejected() {
    let dir = tempfile_dir();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/homelab.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let third = "\n[[nodes]]\nname = \"pve-node3\"\nrole = \"member\"\nlink0 = \"192.168.10.234\"\nlink1 = \"192.168.1.234\"\n";
    let inv = dir.join("odd.toml");
    // [[nodes]] tables must stay together: insert the third one after the last node block.
    let at = text.find("[qdevice]").expect("example has [qdevice]");
    let at = text[..at].rfind("\n#").map(|i| i + 1).unwrap_or(at);
    std::fs::write(&inv, format!("{}{third}\n{}", &text[..at], &text[at..])).unwrap();
    let out = Command::new(bin("form-cluster")).arg("-i").arg(&inv).arg("--check").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("odd") && err.contains("lms"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("form-cluster-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
