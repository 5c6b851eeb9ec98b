//! `drift-check`: compare the homelab with its inventory, change nothing. Thin wrapper over the
//! library (see `drift_check` docs). Exit 0 clean, 2 drift or degraded health, 1 could not check.

use clap::Parser;
use common::cli::{exit, fail, CommonArgs, ErrorOutput, PhaseCli};
use drift_check::timer::{self, Interval};
use drift_check::{prometheus, render, run, Options, PhaseSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "drift-check",
    version,
    about = "Compare every host with the inventory (read-only): missing, different and unmanaged state, cluster health",
    after_help = "Exit codes: 0 clean, 2 drift or degraded health, 1 could not check (named in the report).\n\
                  drift-check never changes anything; --check is accepted and changes nothing either."
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Write node_exporter textfile metrics to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// Append a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Only these phases' checks (repeatable): bootstrap-node, bootstrap-qdevice, form-cluster, configure-storage.
    #[arg(long = "phase", value_name = "PHASE")]
    phases: Vec<String>,
    /// Print the batched observation script of HOST and exit (debugging; measuring the SSH floor).
    #[arg(long, value_name = "HOST")]
    print_script: Option<String>,
    /// Install a systemd timer (or a cron entry without systemd) running this check with these options.
    #[arg(long, conflicts_with = "uninstall_timer")]
    install_timer: bool,
    /// Remove what --install-timer installed.
    #[arg(long)]
    uninstall_timer: bool,
    /// How often the timer runs (15m, 1h, 1d).
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    interval: Interval,
    /// With --install-timer: a systemd user unit (~/.config/systemd/user) instead of a system one.
    #[arg(long)]
    user_unit: bool,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn run_systemctl(args: &[&str]) -> anyhow::Result<(i32, String)> {
    let out = std::process::Command::new("systemctl").args(args).output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code().unwrap_or(-1), text))
}

fn scheduler(args: &Args) -> (timer::Scheduler, bool) {
    let root = std::env::var_os("DRIFT_CHECK_TIMER_ROOT").filter(|r| !r.is_empty()).map(PathBuf::from);
    let s = timer::detect(args.user_unit, root.as_deref()).unwrap_or_else(|e| fail(format!("{e:#}")));
    (s, root.is_none())
}

fn print_done(done: &[String]) {
    for d in done {
        println!("{d}");
    }
}

fn install_timer(args: &Args) -> ! {
    let (s, live) = scheduler(args);
    let exe = std::env::current_exe().and_then(|p| p.canonicalize()).unwrap_or_else(|e| fail(format!("locating drift-check itself: {e}")));
    let mut a = vec!["-i".to_string(), absolute(&args.common.inventory).display().to_string()];
    if let Some(k) = &args.common.known_hosts {
        a.extend(["--known-hosts".into(), absolute(k).display().to_string()]);
    }
    if let Some(p) = &args.prometheus {
        a.extend(["--prometheus".into(), absolute(p).display().to_string()]);
    }
    for n in &args.common.nodes {
        a.extend(["--node".into(), n.clone()]);
    }
    for p in &args.phases {
        a.extend(["--phase".into(), p.clone()]);
    }
    let spec = timer::Spec { exe: exe.clone(), args: a, interval: args.interval };
    let sc: timer::Systemctl = &run_systemctl;
    match timer::install(&s, &spec, live.then_some(sc)) {
        Ok(done) => {
            print_done(&done);
            if exe.components().any(|c| c.as_os_str() == "target") {
                eprintln!("note: the schedule runs {} (a build directory); install the binary (e.g. /usr/local/bin) and re-run --install-timer", exe.display());
            }
            std::process::exit(exit::OK)
        }
        Err(e) => fail(format!("{e:#}")),
    }
}

fn main() {
    let args = Args::parse();
    let cli = PhaseCli::start(&args.common, ErrorOutput::Stderr);
    cli.validate_if_asked(&[]);
    if args.uninstall_timer {
        let (s, live) = scheduler(&args);
        let sc: timer::Systemctl = &run_systemctl;
        match timer::uninstall(&s, live.then_some(sc)) {
            Ok(done) => {
                print_done(&done);
                std::process::exit(exit::OK)
            }
            Err(e) => fail(format!("{e:#}")),
        }
    }
    let loaded = cli.load();
    let phases = PhaseSet::from_names(&args.phases).unwrap_or_else(|e| fail(format!("{e:#}")));
    if args.install_timer {
        install_timer(&args);
    }
    let opts = Options { phases, hosts: args.common.nodes.clone() };
    if let Some(h) = &args.print_script {
        let s = run::script_for(&loaded, &opts, h).unwrap_or_else(|e| fail(format!("{e:#}")));
        print!("{s}");
        std::process::exit(exit::OK);
    }
    let report = run(&loaded, &opts).unwrap_or_else(|e| fail(format!("{e:#}")));
    let mut code = report.exit_code();
    if args.common.json {
        println!("{}", render::json(&report));
    } else if !args.common.quiet || code != exit::OK {
        print!("{}", render::human(&report, args.common.verbose));
    }
    if let Some(p) = &args.prometheus {
        if let Err(e) = prometheus::write_atomic(p, &prometheus::render(&report)) {
            eprintln!("error: {e:#}");
            code = exit::ERROR;
        }
    }
    if let Some(p) = &args.markdown {
        let r = std::fs::OpenOptions::new().create(true).append(true).open(p).and_then(|mut f| f.write_all(render::markdown(&report).as_bytes()));
        if let Err(e) = r {
            eprintln!("error: appending the Markdown summary to {}: {e}", p.display());
            code = exit::ERROR;
        }
    }
    std::process::exit(code);
}
