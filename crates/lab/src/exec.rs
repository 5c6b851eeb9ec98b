//! `lab exec` and `lab ssh`: into a host, replacing this process so exit codes and signals
//! pass straight through.

use crate::paths::{LabFiles, Runtime};
use crate::state::LabState;
use crate::sys;
use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// `nsenter -t PID1 -m -u -i -n -p -r -w -- env -i PATH=… CMD…` (lab-feasibility.md
/// "Entering a host"): all of the host's namespaces, its root and cwd, a clean environment.
pub fn exec_command(host: &str, cmd: &[String]) -> Result<Command> {
    if cmd.is_empty() {
        bail!("lab exec {host}: no command given (lab exec {host} -- CMD …)");
    }
    let rt = Runtime::default();
    let st = LabState::load(&rt)?.context("no lab is running (`lab up` starts one)")?;
    let hs = st.host(host)?;
    let Some(pid1) = hs.running_pid1(&rt) else { bail!("{host} is not running (`lab fault start {host}` boots it)") };
    let mut c = Command::new("nsenter");
    c.args(["-t", &pid1.to_string(), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", "env", "-i"])
        .arg(format!("PATH={}", sys::SANE_PATH))
        .args(["HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8"])
        .arg(format!("TERM={}", std::env::var("TERM").unwrap_or_else(|_| "dumb".into())))
        .args(cmd);
    Ok(c)
}

/// `ssh -F .lab/ssh_config root@ADDR [CMD]`.
pub fn ssh_command(host: &str, cmd: &[String]) -> Result<Command> {
    let rt = Runtime::default();
    let st = LabState::load(&rt)?.context("no lab is running (`lab up` starts one)")?;
    let hs = st.host(host)?;
    let files = LabFiles::new(&st.lab_dir);
    let mut c = Command::new("ssh");
    c.arg("-F").arg(files.ssh_config()).arg(format!("root@{}", hs.spec.mgmt_ip));
    if !cmd.is_empty() {
        c.arg("--").args(cmd);
    }
    Ok(c)
}

/// Replace this process by `c`; returns only on failure to start it.
pub fn replace_process(mut c: Command) -> anyhow::Error {
    let prog = c.get_program().to_string_lossy().into_owned();
    anyhow::Error::new(c.exec()).context(format!("cannot run {prog}"))
}
