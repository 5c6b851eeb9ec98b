//! `lab up`: a complete lab in a few seconds.
//!
//! Order matters for speed (issue 3: < 5 s on 2 cores): host key generation (the slow part)
//! starts first and runs while the runtime dir, the pve-sim applet lists and the network are set
//! up; then every host is prepared and booted on its own thread, each waiting only for its own
//! keys. Nothing sleeps: every wait is an event (readiness pipe) or a poll with a deadline.

use crate::host::{self, BootRequest, Booted};
use crate::inventory;
use crate::keys;
use crate::labfiles::{self, Secrets};
use crate::network;
use crate::paths::{LabFiles, Runtime, STATE_LOCK};
use crate::prereq;
use crate::remnants;
use crate::state::{HostState, LabState, STATE_VERSION};
use crate::sys::{self, FileLock};
use crate::topology::{self, HostSpec, LabShape, Role, CLUSTER, DOMAIN};
use crate::upper::{self, FreshUpper, PveSimInstall};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Stage timings, printed by `lab up -v`.
#[derive(Debug, Default)]
pub struct Timings {
    pub stages: Vec<(String, u128)>,
}

impl Timings {
    fn mark(&mut self, what: impl Into<String>, t0: Instant) {
        self.stages.push((what.into(), sys::ms(t0)));
    }
}

pub struct UpReport {
    pub state: LabState,
    pub timings: Timings,
    pub total_ms: u128,
}

/// Refuse when a lab runs or anything of an earlier one is left.
pub fn refuse_if_busy(rt: &Runtime) -> Result<()> {
    if let Ok(Some(st)) = LabState::load(rt) {
        bail!(
            "a lab is already running (lab dir {}, {} hosts); `lab status` shows it, `lab down` removes it",
            st.lab_dir.display(),
            st.hosts.len()
        );
    }
    let found = remnants::find();
    if !found.is_empty() {
        bail!(
            "remnants of an earlier lab are still on this machine:\n  {}\nrun `lab down` to remove them",
            found.join("\n  ")
        );
    }
    Ok(())
}

fn mount_runtime(rt: &Runtime) -> Result<()> {
    std::fs::create_dir_all(&rt.root).with_context(|| format!("creating {}", rt.root.display()))?;
    let target = std::ffi::CString::new(rt.root.to_str().context("runtime dir is not UTF-8")?)?;
    // SAFETY: valid C strings; a plain tmpfs mount.
    let r = unsafe {
        libc::mount(
            c"homelab-lab".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"size=4g,mode=0755".as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("mounting the runtime tmpfs on {}", rt.root.display()));
    }
    Ok(())
}

/// Ask pve-sim which applets each role gets (`pve-sim --applets ROLE`).
fn applets(pve_sim: &Path, roles: &[Role]) -> Result<BTreeMap<&'static str, Vec<String>>> {
    let mut m = BTreeMap::new();
    for r in roles {
        let out = sys::run(Command::new(pve_sim).args(["--applets", r.as_str()]), &format!("pve-sim --applets {}", r.as_str()))
            .context("the simulator cannot list its applets; is pve-sim complete? (`lab up --no-sim` starts plain hosts)")?;
        let list = upper::parse_applets(&out).with_context(|| format!("pve-sim --applets {}", r.as_str()))?;
        m.insert(r.as_str(), list);
    }
    Ok(m)
}

pub fn up(lab_dir: &Path, shape: LabShape, verbose: bool) -> Result<UpReport> {
    let t0 = Instant::now();
    let mut tm = Timings::default();
    prereq::require_root("lab up")?;
    prereq::require_programs()?;
    let hosts = topology::hosts(&shape)?;
    let pve_sim = if shape.sim { Some(prereq::require_pve_sim()?) } else { None };
    let rt = Runtime::default();
    let _lock = FileLock::exclusive(Path::new(STATE_LOCK), "lab: waiting for another lab command to finish …")?;
    refuse_if_busy(&rt)?;
    tm.mark("checks", t0);

    std::fs::create_dir_all(lab_dir).with_context(|| format!("creating the lab dir {}", lab_dir.display()))?;
    std::fs::set_permissions(lab_dir, std::fs::Permissions::from_mode(0o700))?;
    let files = LabFiles::new(lab_dir);
    let lab_pubkey = keys::ensure_lab_key(&files.key(), &files.pubkey())?;
    let secrets = Secrets::generate(shape.qdevice)?;

    mount_runtime(&rt)?;
    tm.mark("lab key, secrets, runtime tmpfs", t0);
    let result = build(&rt, &files, &hosts, shape, pve_sim.as_deref(), &lab_pubkey, &secrets, &mut tm, t0, verbose);
    match result {
        Ok(state) => Ok(UpReport { state, timings: tm, total_ms: sys::ms(t0) }),
        Err(e) => {
            eprintln!("lab up failed; removing what was created …");
            match crate::down::teardown(&rt, false) {
                Ok(r) if r.remnants.is_empty() => {}
                Ok(r) => eprintln!("lab: teardown left:\n  {}", r.remnants.join("\n  ")),
                Err(e2) => eprintln!("lab: teardown failed too: {e2:#}"),
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    rt: &Runtime,
    files: &LabFiles,
    hosts: &[HostSpec],
    shape: LabShape,
    pve_sim: Option<&Path>,
    lab_pubkey: &str,
    secrets: &Secrets,
    tm: &mut Timings,
    t0: Instant,
    verbose: bool,
) -> Result<LabState> {
    // 1. host keys first: they are the slow part
    let mut identities = Vec::new();
    for h in hosts {
        upper::create_dirs(&rt.host_dir(&h.name))?;
        let upper_dir = rt.upper(&h.name);
        let etc_ssh = upper::prepare_etc_ssh(&upper_dir).with_context(|| format!("{}: upper layer", h.name))?;
        let qnetd = if h.role == Role::Pi { Some(upper::prepare_qnetd_dir(&upper_dir)?) } else { None };
        identities.push((h.name.clone(), etc_ssh, qnetd));
    }
    let factory = keys::KeyFactory::start(&identities);
    tm.mark("host key generation started", t0);
    std::fs::write(rt.init_script(), crate::host_init::SCRIPT)?;
    std::fs::set_permissions(rt.init_script(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::create_dir_all(rt.backplane())?;
    let mut state = LabState {
        version: STATE_VERSION,
        lab_dir: files.dir.clone(),
        runtime_dir: rt.root.clone(),
        shape,
        cluster: CLUSTER.into(),
        domain: DOMAIN.into(),
        created: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        hosts: hosts.iter().map(|h| HostState { spec: h.clone(), pid1: None, unshare_pid: None, boots: 0, installs: 1 }).collect(),
    };
    state.save(rt)?;

    // 2. pve-sim applets, network
    let sim = match pve_sim {
        Some(bin) => {
            let mut roles: Vec<Role> = hosts.iter().map(|h| h.role).collect();
            roles.dedup();
            let applets = applets(bin, &roles)?;
            Some(PveSimInstall { binary: bin.to_path_buf(), staged: upper::stage_pve_sim(bin, &rt.root)?, applets })
        }
        None => None,
    };
    tm.mark("pve-sim applets listed", t0);
    network::create(hosts)?;
    tm.mark("network created", t0);

    // 3. every host on its own thread: upper layer, its keys, boot
    let hidden = upper::hidden_paths(&files.dir);
    let results: Vec<(String, Result<(Booted, u128)>)> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let (hidden, sim, factory) = (&hidden, sim.as_ref(), &factory);
                s.spawn(move || {
                    let r = (|| -> Result<(Booted, u128)> {
                        let fresh = FreshUpper {
                            host: h,
                            hidden,
                            root_key: (h.role == Role::Pve).then_some(lab_pubkey),
                            pve_sim: sim,
                        };
                        upper::prepare_fresh(&rt.upper(&h.name), &fresh)?;
                        factory.wait(&h.name)?;
                        upper::seal_qnetd(&rt.upper(&h.name))?;
                        let keys_ms = sys::ms(t0);
                        let booted = host::boot(&BootRequest {
                            rt,
                            spec: h,
                            sim: sim.is_some(),
                            backplane: matches!(h.role, Role::Pve | Role::Nas),
                            domain: DOMAIN,
                            root_password: secrets.for_role(h.role),
                        })?;
                        Ok((booted, keys_ms))
                    })();
                    (h.name.clone(), r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("host thread")).collect()
    });
    let mut errors = Vec::new();
    for (name, r) in results {
        match r {
            Ok((b, keys_ms)) => {
                tm.mark(format!("{name}: keys ready at {keys_ms} ms, sshd after {} ms of boot", b.accepting_ms), t0);
                let hs = state.host_mut(&name)?;
                hs.pid1 = Some(b.pid1);
                hs.unshare_pid = Some(b.unshare_pid);
                hs.boots = 1;
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    state.save(rt)?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    tm.mark("all hosts accept ssh", t0);

    // 4. the lab dir: pins, ssh config, secrets, inventory
    let mut pins = Vec::new();
    for h in hosts.iter().filter(|h| h.role == Role::Pve) {
        pins.push((h, keys::read_host_pubkeys(&keys::etc_ssh(&rt.upper(&h.name)))?));
    }
    labfiles::pin_hosts(&files.known_hosts(), &pins, true)?;
    let _ = std::fs::remove_file(files.debug_known_hosts());
    sys::write_atomic(&files.ssh_config(), labfiles::ssh_config(files, hosts).as_bytes(), 0o644)?;
    secrets.write(&files.secrets())?;
    sys::write_atomic(&files.inventory(), inventory::render(&shape, hosts, lab_pubkey).as_bytes(), 0o644)?;
    tm.mark("lab dir written", t0);
    if verbose {
        for (what, ms) in &tm.stages {
            eprintln!("lab up: {ms:>5} ms  {what}");
        }
    }
    Ok(state)
}

/// Paths of the lab dir a caller may want to print.
pub fn summary(st: &LabState) -> Vec<(String, PathBuf)> {
    let f = LabFiles::new(&st.lab_dir);
    vec![
        ("inventory".into(), f.inventory()),
        ("secrets".into(), f.secrets()),
        ("ssh config".into(), f.ssh_config()),
        ("known hosts".into(), f.known_hosts()),
    ]
}
