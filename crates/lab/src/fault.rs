//! `lab fault …`: the failures a homelab sees, made on purpose.
//!
//! * link-down/link-up: the root-side veth, i.e. the host's cable on that network.
//! * stop/start: a clean shutdown and a boot over the same upper layer (state persists).
//!   `start` of a running host reboots it (power cycle), which is how a crashed host returns.
//! * crash: SIGKILL of the cluster daemons and sshd; PID 1 survives.
//! * wipe: disk loss and reinstall: fresh upper layer, new host keys, first boot again.

use crate::host::{self, BootRequest};
use crate::keys;
use crate::labfiles::{self, Secrets};
use crate::network;
use crate::paths::{LabFiles, Runtime, STATE_LOCK};
use crate::prereq;
use crate::state::LabState;
use crate::sys::FileLock;
use crate::topology::{Link, Role};
use crate::upper::{self, FreshUpper, PveSimInstall};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    LinkDown(String, Link),
    LinkUp(String, Link),
    Stop(String),
    Start(String),
    Crash(String),
    Wipe(String),
}

/// Apply a fault; returns lines to print.
pub fn apply(fault: &Fault) -> Result<Vec<String>> {
    prereq::require_root("lab fault")?;
    let rt = Runtime::default();
    let _lock = FileLock::exclusive(Path::new(STATE_LOCK), "lab: waiting for another lab command to finish …")?;
    let mut st = LabState::load(&rt)?.context("no lab is running (`lab up` starts one)")?;
    let mut out = Vec::new();
    match fault {
        Fault::LinkDown(h, l) | Fault::LinkUp(h, l) => {
            let up = matches!(fault, Fault::LinkUp(..));
            let spec = &st.host(h)?.spec;
            network::set_link(spec, *l, up)?;
            out.push(format!("{h}: {} ({}) {}", l.as_str(), spec.veth(*l), if up { "up" } else { "down" }));
        }
        Fault::Stop(h) => {
            let hs = st.host(h)?;
            let Some(pid1) = hs.running_pid1(&rt) else { bail!("{h} is not running") };
            out.extend(host::stop_clean(&rt, &hs.spec, pid1, hs.unshare_pid)?);
            let hs = st.host_mut(h)?;
            hs.pid1 = None;
            hs.unshare_pid = None;
            st.save(&rt)?;
            out.push(format!("{h}: stopped (its disk, the upper layer, is kept; `lab fault start {h}` boots it)"));
        }
        Fault::Start(h) => {
            let hs = st.host(h)?;
            if hs.running_pid1(&rt).is_some() {
                out.push(format!("{h}: was running; power-cycling it"));
                host::stop_hard(&rt, h, hs.pid1, hs.unshare_pid, Duration::from_secs(2))?;
            }
            boot(&rt, &mut st, h, None)?;
            out.push(format!("{h}: started (boot {})", st.host(h)?.boots));
        }
        Fault::Crash(h) => {
            let hs = st.host(h)?;
            let Some(pid1) = hs.running_pid1(&rt) else { bail!("{h} is not running") };
            let killed = host::crash(&hs.spec, pid1)?;
            out.push(format!(
                "{h}: killed -9 {}; PID 1 lives (`lab fault start {h}` reboots it)",
                if killed.is_empty() { "nothing (no daemon was running)".to_string() } else { killed.join(" ") }
            ));
        }
        Fault::Wipe(h) => out.extend(wipe(&rt, &mut st, h)?),
    }
    Ok(out)
}

/// Boot a stopped host over its existing upper layer (`secrets` only matter on a first boot).
fn boot(rt: &Runtime, st: &mut LabState, name: &str, secrets: Option<&Secrets>) -> Result<()> {
    let spec = st.host(name)?.spec.clone();
    let b = host::boot(&BootRequest {
        rt,
        spec: &spec,
        sim: st.shape.sim,
        backplane: matches!(spec.role, Role::Pve | Role::Nas),
        domain: &st.domain,
        root_password: secrets.and_then(|s| s.for_role(spec.role)),
    })?;
    let hs = st.host_mut(name)?;
    hs.pid1 = Some(b.pid1);
    hs.unshare_pid = Some(b.unshare_pid);
    hs.boots += 1;
    st.save(rt)
}

/// A reinstall: power off, new disk (upper layer), new identity, first boot, new pins.
fn wipe(rt: &Runtime, st: &mut LabState, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let files = LabFiles::new(&st.lab_dir);
    let secrets = Secrets::read(&files.secrets())?;
    let hs = st.host(name)?.clone();
    if hs.running_pid1(rt).is_some() {
        host::stop_hard(rt, name, hs.pid1, hs.unshare_pid, Duration::from_secs(2))?;
    }
    for d in [rt.upper(name), rt.work(name)] {
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| format!("{name}: removing {}", d.display()))?;
        }
    }
    upper::create_dirs(&rt.host_dir(name))?;
    let etc_ssh = upper::prepare_etc_ssh(&rt.upper(name))?;
    let qnetd = if hs.spec.role == Role::Pi { Some(upper::prepare_qnetd_dir(&rt.upper(name))?) } else { None };
    let factory = keys::KeyFactory::start(&[(name.to_string(), etc_ssh.clone(), qnetd)]);
    let sim = if st.shape.sim {
        let bin = prereq::require_pve_sim()?;
        let out = crate::sys::run(
            std::process::Command::new(&bin).args(["--applets", hs.spec.role.as_str()]),
            &format!("pve-sim --applets {}", hs.spec.role.as_str()),
        )?;
        let mut applets = std::collections::BTreeMap::new();
        applets.insert(hs.spec.role.as_str(), upper::parse_applets(&out)?);
        let staged = upper::stage_pve_sim(&bin, &rt.root)?;
        Some(PveSimInstall { binary: bin, staged, applets })
    } else {
        None
    };
    let lab_pubkey = std::fs::read_to_string(files.pubkey()).with_context(|| format!("reading {}", files.pubkey().display()))?;
    let hidden = upper::hidden_paths(&st.lab_dir);
    upper::prepare_fresh(
        &rt.upper(name),
        &FreshUpper {
            host: &hs.spec,
            hidden: &hidden,
            root_key: (hs.spec.role == Role::Pve).then_some(lab_pubkey.trim()),
            pve_sim: sim.as_ref(),
        },
    )?;
    factory.wait(name)?;
    drop(factory);
    upper::seal_qnetd(&rt.upper(name))?;
    {
        let h = st.host_mut(name)?;
        h.pid1 = None;
        h.unshare_pid = None;
        h.boots = 0;
        h.installs += 1;
    }
    boot(rt, st, name, Some(&secrets))?;
    out.push(format!("{name}: wiped and reinstalled (new upper layer, new host keys, first boot done)"));
    let keys = keys::read_host_pubkeys(&etc_ssh)?;
    if hs.spec.role == Role::Pve {
        // what the install webhook of our provision-iso does on a real reinstall
        let removed = labfiles::pin_hosts(&files.known_hosts(), &[(&hs.spec, keys)], false)?;
        out.push(format!(
            "{name}: replaced {removed} pinned host key(s) in {} with the new keys, as the install webhook does on a reinstall",
            files.known_hosts().display()
        ));
    } else {
        labfiles::forget_debug_pins(&files.debug_known_hosts(), &hs.spec)?;
        out.push(format!(
            "{name}: new host keys; it is not pinned by the lab (no install webhook), so tools that pinned it will see a changed key"
        ));
    }
    Ok(out)
}
