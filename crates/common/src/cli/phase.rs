//! What every phase binary does around its own work, written once: logging from `-v`/`-q`,
//! `--validate`, loading the inventory with the `--known-hosts` override, the error line,
//! printing the run report (human or `--json`) and the exit code (0 ok, 1 error, 2 pending
//! changes with `--check`; README "Exit codes").
//!
//! A phase with the usual shape calls [`run_phase`]; one with more to do (drift-check's timer
//! and metrics) uses the [`PhaseCli`] steps it needs.

use super::{exit, CommonArgs};
use crate::engine::{Mode, RunReport};
use crate::inventory::{self, LoadedInventory, SecretNeed};
use std::fmt::Display;

/// How a phase reports the error that stops it before it has a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOutput {
    /// `error: MESSAGE` on stderr, with or without `--json`.
    Stderr,
    /// With `--json`, `{"phase", "error", "changes": 0, "failed": 1}` on stdout, so a caller
    /// reading JSON always gets an object; without, `error: MESSAGE` on stderr.
    JsonOnStdout { phase: &'static str },
}

/// Print `error: MESSAGE` (secrets redacted) on stderr and exit 1.
pub fn fail(msg: impl Display) -> ! {
    eprintln!("{}", crate::secret::redact(&format!("error: {msg}")));
    std::process::exit(exit::ERROR)
}

/// One phase invocation's shared flags and error style; each method is one step of a main.
#[derive(Debug, Clone, Copy)]
pub struct PhaseCli<'a> {
    pub args: &'a CommonArgs,
    errors: ErrorOutput,
}

impl<'a> PhaseCli<'a> {
    /// Start: set up logging from `-v`/`-q`.
    pub fn start(args: &'a CommonArgs, errors: ErrorOutput) -> Self {
        crate::output::init_logging(args);
        PhaseCli { args, errors }
    }

    /// With `--validate`: check the inventory and the secrets this run needs, print the
    /// outcome and exit with its code, touching no host. Without: return.
    pub fn validate_if_asked(&self, needs: &[SecretNeed]) {
        if self.args.validate {
            std::process::exit(inventory::run_validate(self.args, needs));
        }
    }

    /// The inventory (`-i`), with the CLI's overrides applied; exit 1 naming every problem.
    pub fn load(&self) -> LoadedInventory {
        let mut loaded = inventory::load(&self.args.inventory).unwrap_or_else(|e| self.fail(e));
        crate::access::apply_cli_overrides(&mut loaded, self.args);
        loaded
    }

    /// `--check` → check mode, else apply.
    pub fn mode(&self) -> Mode {
        Mode::from_check_flag(self.args.check)
    }

    /// Report the error in this phase's [`ErrorOutput`] style (secrets redacted) and exit 1.
    pub fn fail(&self, msg: impl Display) -> ! {
        match self.errors {
            ErrorOutput::JsonOnStdout { phase } => {
                let text = crate::secret::redact(&format!("{msg}"));
                if self.args.json {
                    println!("{}", serde_json::json!({ "phase": phase, "error": text, "changes": 0, "failed": 1 }));
                } else {
                    eprintln!("error: {text}");
                }
                std::process::exit(exit::ERROR)
            }
            ErrorOutput::Stderr => fail(msg),
        }
    }

    /// Print the report (JSON with `--json`; human unless `-q`, which still shows failures)
    /// and exit with its code for `mode`.
    pub fn finish(&self, report: &RunReport, mode: Mode) -> ! {
        if self.args.json {
            println!("{}", report.to_json());
        } else if !self.args.quiet || report.failures() > 0 {
            print!("{}", report.render_human(self.args.verbose));
        }
        std::process::exit(report.exit_code(mode))
    }
}

/// A phase's whole main after parsing its flags: start, `--validate` (with `needs`), load the
/// inventory, run `body` in the `--check`/apply mode, print its report and exit. An error from
/// `body` is reported (with its causes) like a load error, exit 1.
pub fn run_phase(
    args: &CommonArgs,
    errors: ErrorOutput,
    needs: &[SecretNeed],
    body: impl FnOnce(&PhaseCli, &LoadedInventory, Mode) -> anyhow::Result<RunReport>,
) -> ! {
    let cli = PhaseCli::start(args, errors);
    cli.validate_if_asked(needs);
    let loaded = cli.load();
    let mode = cli.mode();
    let report = body(&cli, &loaded, mode).unwrap_or_else(|e| cli.fail(format!("{e:#}")));
    cli.finish(&report, mode)
}
