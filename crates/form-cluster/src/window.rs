//! The temporary root window on the Pi, closed on every exit path.
//!
//! `pvecm qdevice setup` logs in to the Pi as root (ssh-copy-id, ssh, scp; pve-cli.md §2.9
//! steps 5–12). DESIGN.md's security rule: root SSH into the Pi exists only for the duration of
//! that command, only for the cluster nodes' root keys, restricted with `from=`. The window is
//! opened and closed by bootstrap-qdevice's library (`open_root_window` / `harden`, the same
//! logic as `bootstrap-qdevice harden`), and closed
//!
//! * explicitly after the setup (its error is reported),
//! * by [`RootWindow`]'s `Drop` on any early return or panic,
//! * by a SIGINT/SIGTERM handler thread that opens a *fresh* SSH connection to the Pi (the
//!   main thread may be blocked in a remote command on its own sessions), runs the same close
//!   logic, and only then exits (130 / 143).

use common::engine::HostReport;
use common::inventory::Inventory;
use common::ssh::{Session, SshTarget};
use std::sync::{Mutex, Once};

/// The Pi of the currently open window and the inventory its close logic needs (None: no
/// window open). The signal thread takes it.
static OPEN: Mutex<Option<(SshTarget, Inventory)>> = Mutex::new(None);
static HANDLER: Once = Once::new();

/// Test hook (lab test of the Ctrl-C path): when set to a path, form-cluster writes that file
/// once the window is open and then waits there (at most 120 s) for a signal, so the test can
/// send SIGINT at a known point. Never set in normal use.
pub const HOLD_ENV: &str = "FORM_CLUSTER_TEST_HOLD_WINDOW";

/// Close the window: the same logic as `bootstrap-qdevice harden`. Idempotent, so it also
/// closes a window this run did not open (found open by the observation: an earlier run was
/// killed while it was open).
pub fn close_now(pi: &Session, inv: &Inventory) -> anyhow::Result<HostReport> {
    bootstrap_qdevice::harden(pi, inv)
}

/// An open window; closing it is idempotent.
pub struct RootWindow<'a> {
    pi: &'a Session,
    inv: &'a Inventory,
    closed: bool,
    /// What opening changed on the Pi (for the report).
    pub opened: HostReport,
}

impl<'a> RootWindow<'a> {
    /// Open the window for `keys` (public key lines) from `from` (addresses) only.
    pub fn open(pi: &'a Session, inv: &'a Inventory, keys: &[String], from: &[String]) -> anyhow::Result<RootWindow<'a>> {
        install_signal_handler();
        // Registered before opening: a signal during the opening still closes it.
        *OPEN.lock().unwrap_or_else(|e| e.into_inner()) = Some((pi.target().clone(), inv.clone()));
        let mut w = RootWindow { pi, inv, closed: false, opened: HostReport::new(pi.host()) };
        match bootstrap_qdevice::open_root_window(pi, inv, keys, from, "form-cluster (pvecm qdevice setup)") {
            Ok(r) => w.opened = r,
            Err(e) => {
                let closed = w.close_inner();
                return Err(match closed {
                    Ok(_) => e.context(format!("{}: opening the temporary root window failed (closed again)", pi.host())),
                    Err(c) => e.context(format!(
                        "{}: opening the temporary root window failed, and closing it failed too: {c:#} — \
                         run `bootstrap-qdevice harden`",
                        pi.host()
                    )),
                });
            }
        }
        hold_for_tests();
        Ok(w)
    }

    /// Close now; the report of what closing changed.
    pub fn close(mut self) -> anyhow::Result<HostReport> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> anyhow::Result<HostReport> {
        if self.closed {
            return Ok(HostReport::new(self.pi.host()));
        }
        self.closed = true;
        let r = close_now(self.pi, self.inv);
        if r.is_ok() {
            *OPEN.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        r
    }
}

impl Drop for RootWindow<'_> {
    fn drop(&mut self) {
        if !self.closed {
            if let Err(e) = self.close_inner() {
                eprintln!(
                    "form-cluster: could not close the temporary root window on {}: {e:#}\n\
                     form-cluster: close it now with: bootstrap-qdevice harden",
                    self.pi.host()
                );
            }
        }
    }
}

fn install_signal_handler() {
    HANDLER.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("cannot install the SIGINT/SIGTERM handler: {e}");
                return;
            }
        };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let code = 128 + sig;
                let target = OPEN.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some((t, inv)) = target {
                    eprintln!("\nform-cluster: interrupted — closing the temporary root window on {} first", t.name);
                    match Session::connect(&t).map_err(anyhow::Error::from).and_then(|s| close_now(&s, &inv)) {
                        Ok(_) => eprintln!("form-cluster: root window on {} closed", t.name),
                        Err(e) => eprintln!(
                            "form-cluster: closing the root window on {} FAILED: {e:#}\n\
                             form-cluster: close it now with: bootstrap-qdevice harden",
                            t.name
                        ),
                    }
                } else {
                    eprintln!("\nform-cluster: interrupted");
                }
                std::process::exit(code);
            }
        });
    });
}

fn hold_for_tests() {
    let Some(path) = std::env::var_os(HOLD_ENV) else { return };
    let _ = std::fs::write(&path, b"open\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        std::thread::park_timeout(std::time::Duration::from_millis(200));
    }
}
