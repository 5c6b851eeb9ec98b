//! The README's main job, `scripts/runbook.sh --lab`, end to end on a fresh lab: every phase in
//! order, a clean drift-check at the end; then the runbook again on the same lab (`--from
//! provision-iso` reuses it) must change nothing.
//!
//! A lab test: it needs root. Outside CI a non-root run is skipped with a message; under
//! `CI=true` it fails. The runbook takes `/tmp/homelab-lab.lock` itself, so this test must not
//! hold it while the runbook runs; the lab is taken down afterwards under the lock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// `target/<profile>` of this test binary, so the runbook finds the binaries cargo just built
/// (wherever CARGO_TARGET_DIR points).
fn target_dir() -> PathBuf {
    let profile = lab::testing::LabGuard::lab_bin().expect("the lab binary (cargo build --workspace)");
    profile.parent().and_then(Path::parent).expect("target/<profile>/lab").to_path_buf()
}

/// Takes the lab down (under the lab lock) however the test ends.
struct LabDown<'a>(&'a Path);
impl Drop for LabDown<'_> {
    fn drop(&mut self) {
        let lab = lab::testing::LabGuard::lab_bin().expect("lab binary");
        let _ = Command::new("flock").arg("/tmp/homelab-lab.lock").arg(lab).arg("down").env("HOMELAB_LAB_DIR", self.0).status();
    }
}

fn runbook(lab_dir: &Path, extra: &[&str]) -> (Output, String) {
    let out = Command::new(workspace_root().join("scripts/runbook.sh"))
        .args(["--lab", "--no-build"])
        .args(extra)
        .env("HOMELAB_LAB_DIR", lab_dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("running scripts/runbook.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

/// The per-host summary lines every phase prints: `HOST: N ok, N changed, N failed`.
fn summaries(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(" ok, ") && l.contains(" changed, ")).collect()
}

#[test]
fn runbook_builds_the_lab_cluster_and_a_second_run_changes_nothing() {
    if !lab::testing::root_or_skip("runbook test") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("homelab-runbook-test.").tempdir().unwrap();
    let _down = LabDown(dir.path());

    let (out, text) = runbook(dir.path(), &[]);
    assert!(out.status.success(), "first runbook run failed:\n{text}");
    for phase in ["bootstrap-node", "bootstrap-qdevice", "form-cluster", "configure-storage", "drift-check"] {
        assert!(text.contains(&format!("== {phase}")), "phase {phase} did not run:\n{text}");
    }
    assert!(
        summaries(&text).iter().any(|l| !l.contains(" 0 changed")),
        "a fresh lab needs changes; the first run reported none:\n{text}"
    );
    assert!(text.contains("0 missing, 0 different, 0 unmanaged") && text.contains("→ exit 0"), "drift-check not clean:\n{text}");
    assert!(text.contains("Quorate") && text.contains("Qdevice"), "pvecm status at the end shows no quorate QDevice cluster:\n{text}");

    let (out, text) = runbook(dir.path(), &["--from", "provision-iso"]);
    assert!(out.status.success(), "second runbook run failed:\n{text}");
    assert!(text.contains("reusing the running lab"), "the second run did not reuse the lab:\n{text}");
    let lines = summaries(&text);
    assert!(lines.len() >= 7, "expected a summary per host and phase:\n{text}");
    for l in &lines {
        assert!(l.contains(" 0 changed, 0 failed"), "second run changed something: {l}\n{text}");
    }
    assert!(text.contains("→ exit 0"), "drift-check after the second run:\n{text}");
}
