//! `lab::testing`: a lab for a test, torn down when the test ends (even by panic).
//!
//! ```no_run
//! use lab::testing::{LabGuard, LabOptions};
//! #[test]
//! fn joins_over_ssh() {
//!     let Some(lab) = LabGuard::up_or_skip(LabOptions::default()) else { return };
//!     let out = lab.sh_ok("pve-node1", "hostname").unwrap();
//!     assert_eq!(out.trim(), "pve-node1");
//!     let status = lab.command(LabGuard::workspace_bin("bootstrap-node").unwrap())
//!         .arg("-i").arg(lab.inventory()).status().unwrap();
//!     assert!(status.success());
//! }
//! ```
//!
//! * One lab per machine: `up` takes an exclusive `flock` on /tmp/homelab-lab.lock (the same
//!   lock as `flock /tmp/homelab-lab.lock lab up`), blocking with a message while another holds it.
//! * Each guard has its own temporary lab dir (`HOMELAB_LAB_DIR`), never `./.lab`.
//! * Prerequisites: under `CI=true` anything missing is a failure; outside CI a non-root user
//!   (or a machine without the lab's packages) gets [`LabError::Skip`] with a printed reason.
//! * The `lab` binary: `$HOMELAB_LAB_BIN`, else `target/<profile>/lab` beside the test binary
//!   (`cargo build --workspace` builds it; so does `cargo test -p lab`).

use crate::labfiles::parse_env_file;
use crate::paths::{LabFiles, TEST_LOCK};
use crate::prereq;
use crate::remnants;
use crate::sys::{self, FileLock};
use crate::topology::Link;
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What lab a test wants. `Default` is the full default lab with the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabOptions {
    pub nodes: u32,
    pub qdevice: bool,
    pub nas: bool,
    /// Install pve-sim (pve/pi/nas images); `false` gives plain Debian hosts with sshd.
    pub sim: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions { nodes: 2, qdevice: true, nas: true, sim: true }
    }
}

impl LabOptions {
    /// Plain hosts (no simulator): the default topology.
    pub fn plain() -> Self {
        LabOptions { sim: false, ..Self::default() }
    }
    pub fn nodes(mut self, n: u32) -> Self {
        self.nodes = n;
        self
    }
    pub fn no_qdevice(mut self) -> Self {
        self.qdevice = false;
        self
    }
    pub fn no_nas(mut self) -> Self {
        self.nas = false;
        self
    }
    pub fn no_sim(mut self) -> Self {
        self.sim = false;
        self
    }

    fn args(&self) -> Vec<String> {
        let mut a = vec!["up".to_string(), "-v".into(), "--nodes".into(), self.nodes.to_string()];
        if !self.qdevice {
            a.push("--no-qdevice".into());
        }
        if !self.nas {
            a.push("--no-nas".into());
        }
        if !self.sim {
            a.push("--no-sim".into());
        }
        a
    }
}

/// Why there is no lab.
pub enum LabError {
    /// Not possible here and allowed to skip (outside CI): the reason was printed.
    Skip(String),
    /// A real failure (a test must fail).
    Failed(anyhow::Error),
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Skip(r) => write!(f, "lab test skipped: {r}"),
            LabError::Failed(e) => write!(f, "lab: {e:#}"),
        }
    }
}

impl fmt::Debug for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for LabError {}

impl From<anyhow::Error> for LabError {
    fn from(e: anyhow::Error) -> Self {
        LabError::Failed(e)
    }
}

/// A fault to inject (see `lab fault --help`).
#[derive(Debug, Clone, Copy)]
pub enum Fault<'a> {
    LinkDown(&'a str, Link),
    LinkUp(&'a str, Link),
    Stop(&'a str),
    Start(&'a str),
    Crash(&'a str),
    Wipe(&'a str),
}

impl Fault<'_> {
    fn args(&self) -> Vec<String> {
        let (verb, host, link) = match *self {
            Fault::LinkDown(h, l) => ("link-down", h, Some(l)),
            Fault::LinkUp(h, l) => ("link-up", h, Some(l)),
            Fault::Stop(h) => ("stop", h, None),
            Fault::Start(h) => ("start", h, None),
            Fault::Crash(h) => ("crash", h, None),
            Fault::Wipe(h) => ("wipe", h, None),
        };
        let mut a = vec!["fault".to_string(), verb.into(), host.into()];
        if let Some(l) = link {
            a.push(l.as_str().into());
        }
        a
    }
}

/// A running lab owned by one test. Dropping it runs `lab down`.
pub struct LabGuard {
    lab_bin: PathBuf,
    dir: Option<tempfile::TempDir>,
    lab_dir: PathBuf,
    down_done: bool,
    _lock: FileLock,
}

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Outside CI: print and skip; under CI: fail.
fn skip_or_fail(reason: String) -> LabError {
    if in_ci() {
        LabError::Failed(anyhow!("{reason} (CI=true: a missing lab prerequisite is a failure)"))
    } else {
        eprintln!("SKIPPED lab test: {reason}");
        LabError::Skip(reason)
    }
}

/// For tests that drive the lab through a script which takes the lab lock itself (the runbook,
/// the interruption suite) and so cannot hold a [`LabGuard`]: `true` when running as root;
/// otherwise a printed skip, or a panic under `CI=true`.
pub fn root_or_skip(test: &str) -> bool {
    if sys::is_root() {
        return true;
    }
    if in_ci() {
        panic!("{test}: needs root (the lab uses network namespaces); under CI=true this is a failure, not a skip");
    }
    eprintln!("SKIPPED {test}: needs root (the lab uses network namespaces)");
    false
}

impl LabGuard {
    /// Bring a lab up for this test (see the module docs for skip/fail rules).
    pub fn up(opts: LabOptions) -> Result<LabGuard, LabError> {
        if !sys::is_root() {
            return Err(skip_or_fail("lab tests need root (namespaces, bridges, mounts); run them as root".into()));
        }
        let missing = prereq::missing_programs();
        if !missing.is_empty() {
            return Err(skip_or_fail(format!("missing programs: {} (scripts/deps.sh installs them)", missing.join(", "))));
        }
        let lab_bin = Self::lab_bin()?;
        if opts.sim {
            let sim = prereq::pve_sim_path(&lab_bin);
            if !sim.is_file() {
                return Err(LabError::Failed(anyhow!(
                    "the simulator {} does not exist: run cargo build --workspace first (or set HOMELAB_PVE_SIM)",
                    sim.display()
                )));
            }
        }
        let lock = FileLock::exclusive(
            Path::new(TEST_LOCK),
            &format!("lab::testing: waiting for {TEST_LOCK}: another test or person has a lab up …"),
        )?;
        // we hold the lock, so anything left is an orphan of a killed test run
        let left = remnants::find();
        if !left.is_empty() || Path::new(crate::paths::RUNTIME_DIR).join("state.json").exists() {
            eprintln!("lab::testing: a lab is up although nobody holds {TEST_LOCK} (a killed test run?); removing it");
            let out = Command::new(&lab_bin).arg("down").output().context("running lab down")?;
            if !out.status.success() {
                return Err(LabError::Failed(anyhow!(
                    "cannot remove the orphaned lab: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        let dir = tempfile::Builder::new().prefix("homelab-lab-test.").tempdir().context("creating a temporary lab dir")?;
        let lab_dir = dir.path().to_path_buf();
        let out = Command::new(&lab_bin)
            .args(opts.args())
            .env("HOMELAB_LAB_DIR", &lab_dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", lab_bin.display()))?;
        // visible with --nocapture and in failure reports: timings and where things are
        eprint!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let guard = LabGuard { lab_bin, dir: Some(dir), lab_dir, down_done: false, _lock: lock };
        if !out.status.success() {
            // `lab up` cleans up after itself; the guard's drop makes sure
            return Err(LabError::Failed(anyhow!(
                "lab up {} failed ({}):\n{}",
                opts.args()[1..].join(" "),
                sys::describe_status(out.status),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(guard)
    }

    /// `up`, returning None on skip and panicking on failure: the usual start of a lab test.
    pub fn up_or_skip(opts: LabOptions) -> Option<LabGuard> {
        match Self::up(opts) {
            Ok(g) => Some(g),
            Err(LabError::Skip(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// The `lab` binary: `$HOMELAB_LAB_BIN`, else `target/<profile>/lab` for this test binary.
    pub fn lab_bin() -> Result<PathBuf> {
        if let Some(p) = std::env::var_os("HOMELAB_LAB_BIN").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if !p.is_file() {
                bail!("HOMELAB_LAB_BIN={} does not exist", p.display());
            }
            return Ok(p);
        }
        Self::workspace_bin("lab")
    }

    /// A workspace binary beside `lab` (`target/<profile>/NAME`), e.g. `bootstrap-node`.
    pub fn workspace_bin(name: &str) -> Result<PathBuf> {
        let exe = std::env::current_exe().context("locating the test binary")?;
        // target/<profile>/deps/test-hash  or  target/<profile>/test
        let mut candidates = Vec::new();
        if let Some(dir) = exe.parent() {
            if dir.file_name() == Some(OsStr::new("deps")) {
                if let Some(profile) = dir.parent() {
                    candidates.push(profile.join(name));
                }
            }
            candidates.push(dir.join(name));
        }
        if name == "lab" {
            if let Some(p) = std::env::var_os("HOMELAB_LAB_BIN") {
                candidates.insert(0, PathBuf::from(p));
            }
        }
        candidates.into_iter().find(|p| p.is_file()).with_context(|| {
            format!("the `{name}` binary is not built next to {}: run cargo build --workspace first", exe.display())
        })
    }

    pub fn lab_dir(&self) -> &Path {
        &self.lab_dir
    }
    pub fn inventory(&self) -> PathBuf {
        LabFiles::new(&self.lab_dir).inventory()
    }
    pub fn known_hosts(&self) -> PathBuf {
        LabFiles::new(&self.lab_dir).known_hosts()
    }
    pub fn ssh_config(&self) -> PathBuf {
        LabFiles::new(&self.lab_dir).ssh_config()
    }
    pub fn identity_file(&self) -> PathBuf {
        LabFiles::new(&self.lab_dir).key()
    }

    /// The lab's secrets as environment pairs (`PROXMOX_ROOT_PASSWORD`, `PI_ROOT_PASSWORD`).
    pub fn secrets(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(LabFiles::new(&self.lab_dir).secrets()).map(|t| parse_env_file(&t)).unwrap_or_default()
    }

    /// Secrets plus `HOMELAB_LAB_DIR` and `HOMELAB_INVENTORY`: what a phase binary needs.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut v = self.secrets();
        v.push(("HOMELAB_LAB_DIR".into(), self.lab_dir.display().to_string()));
        v.push(("HOMELAB_INVENTORY".into(), self.inventory().display().to_string()));
        v
    }

    /// A command with [`env`](Self::env) applied.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    /// Run a `lab` subcommand against this lab.
    pub fn lab(&self, args: &[&str]) -> Result<Output> {
        Command::new(&self.lab_bin)
            .args(args)
            .env("HOMELAB_LAB_DIR", &self.lab_dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running lab {}", args.join(" ")))
    }

    /// Run `argv` inside `host` (`lab exec`), whatever its exit code.
    pub fn exec(&self, host: &str, argv: &[&str]) -> Result<Output> {
        let mut a = vec!["exec", host, "--"];
        a.extend_from_slice(argv);
        self.lab(&a)
    }

    /// Run a shell script inside `host`.
    pub fn sh(&self, host: &str, script: &str) -> Result<Output> {
        self.exec(host, &["sh", "-c", script])
    }

    /// Run a shell script inside `host`; its stdout, or an error with its stderr.
    pub fn sh_ok(&self, host: &str, script: &str) -> Result<String> {
        let out = self.sh(host, script)?;
        if !out.status.success() {
            bail!(
                "{host}: `{script}` failed ({}): {}",
                sys::describe_status(out.status),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ssh -F <lab>/ssh_config -o BatchMode=yes root@HOST SCRIPT` (key login; pinned keys).
    pub fn ssh(&self, host: &str, script: &str) -> Result<Output> {
        Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", &format!("root@{host}"), "--", script])
            .stdin(Stdio::null())
            .output()
            .context("running ssh")
    }

    /// Inject a fault; an error carries `lab fault`'s message.
    pub fn fault(&self, f: Fault) -> Result<String> {
        let args = f.args();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.lab(&argv)?;
        if !out.status.success() {
            bail!("lab {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `lab status --json`.
    pub fn status(&self) -> Result<serde_json::Value> {
        let out = self.lab(&["status", "--json"])?;
        if !out.status.success() {
            bail!("lab status failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// Tear down now and return `lab down`'s output; an error if anything was left behind.
    pub fn down(mut self) -> Result<String> {
        self.down_done = true;
        let out = self.lab(&["down"])?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            bail!("lab down failed:\n{text}");
        }
        Ok(text)
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if !self.down_done {
            let res = self.lab(&["down"]);
            let failed = match &res {
                Ok(o) if o.status.success() => None,
                Ok(o) => Some(String::from_utf8_lossy(&o.stderr).into_owned()),
                Err(e) => Some(format!("{e:#}")),
            };
            if let Some(msg) = failed {
                eprintln!("lab::testing: lab down failed: {msg}");
                if !std::thread::panicking() {
                    panic!("lab down failed after the test: {msg}");
                }
            }
        }
        // the temp lab dir goes after the lab (TempDir's drop); the lock is released last
        drop(self.dir.take());
    }
}

/// One run of a workspace binary against a lab ([`LabGuard::run_tool`]).
#[derive(Debug, Clone)]
pub struct ToolRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Wall time of the run, for the tests' TIMING lines (never asserted on).
    pub secs: f64,
}

impl ToolRun {
    /// stdout as JSON; panics with both outputs when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
    /// Exit code and both outputs, for assertion messages.
    pub fn show(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
    /// stdout and stderr together, for "the message is somewhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// How long [`LabGuard::wait_until`] polls before it gives up.
const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

impl LabGuard {
    /// Run the workspace binary `tool -i INVENTORY ARGS…` with the lab's [`env`](Self::env)
    /// and stdin closed. Panics when the binary is not built (`cargo build --workspace`).
    pub fn run_tool(&self, tool: &str, inventory: &Path, args: &[&str]) -> ToolRun {
        let bin = Self::workspace_bin(tool).unwrap_or_else(|e| panic!("{e:#} (cargo build --workspace first)"));
        let started = std::time::Instant::now();
        let out = self
            .command(&bin)
            .arg("-i")
            .arg(inventory)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
        ToolRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            secs: started.elapsed().as_secs_f64(),
        }
    }

    /// The set-up of a later phase's test: run each `(phase binary, args)` in order against
    /// the lab inventory, printing a TIMING line each; panics with the output of the first
    /// that does not exit 0.
    pub fn run_phases(&self, phases: &[(&str, &[&str])]) {
        let inventory = self.inventory();
        for (phase, args) in phases {
            let r = self.run_tool(phase, &inventory, args);
            eprintln!("TIMING {phase} {}: {:.2} s (exit {})", args.join(" "), r.secs, r.code);
            assert_eq!(r.code, 0, "{phase}: {}", r.show());
        }
    }

    /// Poll `script` in `host` until `ok(stdout + stderr)` holds (never a fixed sleep), at most
    /// 90 s; returns that output, or panics naming `what` with the last output.
    pub fn wait_until(&self, host: &str, script: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + WAIT_LIMIT;
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(o) = self.sh(host, script) {
                last = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                if ok(&last) {
                    return last;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        panic!("{host}: timed out waiting for {what}; last output:\n{last}");
    }
}
