//! Command line: parse, dispatch, print. The library modules do the work.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use common::cli::{exit, CommonArgs};
use common::inventory::LoadedInventory;
use common::secret::Secret;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::generate::{self, AnswerInputs, FirstBootSource};
use crate::iso::{self, FetchMode, HttpSettings, ModeFile, PrepareJob};

#[derive(Debug, Parser)]
#[command(name = "provision-iso", version = common::VERSION, about = "Unattended Proxmox VE installs: answer files, installer ISO, answer server, host-key capture")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Write answer.toml for each node (or the --node ones) from the inventory.
    Answer {
        /// Directory for `<node>.answer.toml` (default: `answers/` beside the inventory).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where the installer gets the first-boot script.
        #[arg(long, value_enum, default_value = "iso")]
        first_boot_source: FirstBootSource,
    },
    /// Check answer files by the installer's rules; every problem with file:line:col.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Build an unattended installer ISO (like proxmox-auto-install-assistant prepare-iso).
    Prepare {
        /// The Proxmox VE installer ISO.
        #[arg(long, value_name = "IN.iso")]
        iso: PathBuf,
        /// The ISO to write.
        #[arg(long, value_name = "OUT.iso")]
        output: PathBuf,
        /// `iso`: the answer of --node is embedded; `http`: the installer asks --url.
        #[arg(long, value_enum)]
        fetch_from: FetchMode,
        /// Answer server URL (http mode); empty = DHCP option 250 / DNS TXT discovery.
        #[arg(long)]
        url: Option<String>,
        /// SHA-256 fingerprint of the answer server's certificate (http mode).
        #[arg(long)]
        cert_fingerprint: Option<String>,
        /// Environment variable holding the bearer token (default: the inventory's install.token).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// First-boot executable to embed (default: generated from the inventory).
        #[arg(long, value_name = "FILE")]
        first_boot: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Flush the written ISO to disk before moving it into place (slower).
        #[arg(long)]
        fsync: bool,
    },
    /// Serve answers over HTTP and receive the post-installation webhook.
    Serve {
        #[arg(long, default_value = "0.0.0.0:8000", value_name = "ADDR")]
        listen: String,
        /// Environment variable holding the bearer token (default: the inventory's install.token).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
    },
    /// Write the first-boot script generated from the inventory.
    FirstBoot {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    // The answer server's log *is* its output (who got which answer, which pins changed):
    // show it at info by default unless the operator chose a level.
    if matches!(cli.cmd, Cmd::Serve { .. }) && std::env::var_os("RUST_LOG").is_none() && !cli.common.quiet {
        std::env::set_var("RUST_LOG", if cli.common.verbose > 1 { "debug" } else { "warn,provision_iso=info" });
    }
    common::output::init_logging(&cli.common);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", common::secret::redact(&format!("{e:#}")));
            exit::ERROR
        }
    }
}

fn load(args: &CommonArgs) -> Result<LoadedInventory> {
    common::inventory::load(&args.inventory).map_err(|e| anyhow::anyhow!("{e}"))
}

fn known_hosts(args: &CommonArgs, loaded: &LoadedInventory) -> PathBuf {
    args.known_hosts.clone().unwrap_or_else(|| loaded.known_hosts_path())
}

fn selected<'a>(args: &CommonArgs, loaded: &'a LoadedInventory) -> Result<Vec<&'a common::inventory::Node>> {
    for n in &args.nodes {
        if loaded.inv.node(n).is_none() {
            let names: Vec<&str> = loaded.inv.nodes.iter().map(|n| n.name.as_str()).collect();
            bail!("--node {n}: no such node in {} (nodes: {})", loaded.path.display(), names.join(", "));
        }
    }
    Ok(loaded.inv.nodes.iter().filter(|n| args.selects(&n.name)).collect())
}

/// A token from `--token-env VAR`, else the inventory's `install.token`.
fn token(var: &Option<String>, loaded: Option<&LoadedInventory>) -> Result<Option<Secret>> {
    if let Some(v) = var {
        let r = common::inventory::SecretRef { env: Some(v.clone()), file: None };
        return Ok(Some(r.resolve(Path::new("."))?));
    }
    match loaded.and_then(|l| l.inv.install.token.as_ref().map(|t| (l, t))) {
        Some((l, t)) => Ok(Some(t.resolve(&l.base_dir()).context("install.token")?)),
        None => Ok(None),
    }
}

pub fn run(cli: &Cli) -> Result<i32> {
    let args = &cli.common;
    match &cli.cmd {
        Cmd::Validate { files } => validate(args, files),
        Cmd::Answer { out, first_boot_source } => answer(args, out.as_deref(), *first_boot_source),
        Cmd::FirstBoot { out } => {
            let loaded = load(args)?;
            let keys = generate::resolve_keys(&loaded)?;
            let script = crate::firstboot::render(&loaded, &keys);
            if args.validate {
                return Ok(exit::OK);
            }
            let old = generate::read_existing(out)?;
            if old.as_deref() == Some(script.as_str()) {
                common::output::note(args, &format!("{} is up to date", out.display()));
                return Ok(exit::OK);
            }
            if args.check {
                println!("would write {}", out.display());
                return Ok(exit::CHANGES);
            }
            crate::fsutil::write_atomic(out, script.as_bytes(), 0o755)?;
            common::output::note(args, &format!("wrote {}", out.display()));
            Ok(exit::OK)
        }
        Cmd::Prepare { iso, output, fetch_from, url, cert_fingerprint, token_env, first_boot, force, fsync } => {
            prepare(args, iso, output, *fetch_from, url, cert_fingerprint, token_env, first_boot.as_deref(), *force, *fsync)
        }
        Cmd::Serve { listen, token_env } => serve(args, listen, token_env),
    }
}

fn validate(args: &CommonArgs, files: &[PathBuf]) -> Result<i32> {
    let mut all_valid = true;
    let mut json = Vec::new();
    for f in files {
        let text = match read_answer_file(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}:{e}", f.display());
                all_valid = false;
                continue;
            }
        };
        let report = crate::answer::validate_str(&text);
        all_valid &= report.is_valid();
        if args.json {
            json.push(serde_json::json!({"file": f, "valid": report.is_valid(), "problems": report.problems}));
            continue;
        }
        for p in &report.problems {
            println!("{}:{p}", f.display());
        }
        if !args.quiet {
            let warnings = report.problems.len() - report.errors().count();
            match (report.is_valid(), warnings) {
                (true, 0) => println!("{}: valid", f.display()),
                (true, w) => println!("{}: valid, {w} warning(s) (the installer accepts it)", f.display()),
                (false, _) => println!("{}: INVALID, {} error(s)", f.display(), report.errors().count()),
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(if all_valid { exit::OK } else { exit::ERROR })
}

/// An answer file is a few KiB; reading stops past this, so `validate /dev/zero` or a runaway
/// pipe cannot exhaust memory (issue 11).
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Read an answer file as UTF-8; the error (after `FILE:`) says where the bad byte is.
fn read_answer_file(f: &Path) -> std::result::Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(f)
        .and_then(|file| file.take(MAX_ANSWER_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!(" cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_ANSWER_BYTES {
        return Err(format!(" more than {MAX_ANSWER_BYTES} bytes: not an answer file (they are a few KiB)"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let before = String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]).into_owned();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("{line}:{col}: error: not valid UTF-8 (byte {}); the installer reads UTF-8 TOML — save it as UTF-8", before.len())
    })
}

fn answer(args: &CommonArgs, out: Option<&Path>, fb: FirstBootSource) -> Result<i32> {
    let loaded = load(args)?;
    let nodes = selected(args, &loaded)?;
    let inputs = AnswerInputs::resolve(&loaded, fb)?;
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| loaded.base_dir().join("answers"));
    let mut changes = 0;
    let mut report = Vec::new();
    for node in nodes {
        let path = dir.join(format!("{}.answer.toml", node.name));
        let old = generate::read_existing(&path)?;
        let hash = generate::root_hash(&inputs, old.as_deref())?;
        let text = generate::render_answer(&loaded, node, &inputs, &hash)?;
        let state = match &old {
            Some(o) if *o == text => "unchanged",
            Some(_) => "changed",
            None => "new",
        };
        report.push(serde_json::json!({"node": node.name, "file": path, "state": state}));
        if state == "unchanged" || args.validate {
            if !args.json && state == "unchanged" {
                common::output::note(args, &format!("{}: {} is up to date", node.name, path.display()));
            }
            continue;
        }
        changes += 1;
        if args.check {
            if !args.json {
                println!("would write {} ({state}):", path.display());
                let diff = crate::fsutil::line_diff(
                    &generate::redact_answer(old.as_deref().unwrap_or("")),
                    &generate::redact_answer(&text),
                );
                print!("{diff}");
            }
            continue;
        }
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o600)?;
        if !args.json {
            common::output::note(args, &format!("{}: wrote {} ({state})", node.name, path.display()));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if args.check && changes > 0 { exit::CHANGES } else { exit::OK })
}

#[allow(clippy::too_many_arguments)]
fn prepare(
    args: &CommonArgs,
    input: &Path,
    output: &Path,
    mode: FetchMode,
    url: &Option<String>,
    fp: &Option<String>,
    token_env: &Option<String>,
    first_boot: Option<&Path>,
    force: bool,
    fsync: bool,
) -> Result<i32> {
    if mode == FetchMode::Iso && (url.is_some() || fp.is_some()) {
        bail!("--url and --cert-fingerprint are only for --fetch-from http");
    }
    // The inventory is needed for iso mode (answer), the generated first-boot script and the
    // default token; an http-mode ISO with its own --first-boot and --token-env needs none.
    let needs_inv = mode == FetchMode::Iso || first_boot.is_none() || (mode == FetchMode::Http && token_env.is_none());
    let loaded = if needs_inv { Some(load(args)?) } else { None };

    let mut http = HttpSettings::default();
    let mut answer_text = None;
    match mode {
        FetchMode::Http => {
            http.url = url.clone();
            http.cert_fingerprint = fp.clone();
            http.token = token(token_env, loaded.as_ref())?.map(|s| s.expose().to_string());
        }
        FetchMode::Iso => {
            let loaded = loaded.as_ref().expect("loaded for iso mode");
            let [name] = args.nodes.as_slice() else {
                bail!("--fetch-from iso embeds one node's answer: give exactly one --node NAME");
            };
            let node = loaded.inv.node(name).with_context(|| format!("--node {name}: no such node"))?;
            let inputs = AnswerInputs::resolve(loaded, FirstBootSource::Iso)?;
            let hash = generate::root_hash(&inputs, None)?;
            let text = generate::render_answer(loaded, node, &inputs, &hash)?;
            answer_text = Some(text);
        }
    }
    let fb_bytes = match first_boot {
        Some(p) => {
            let len = std::fs::metadata(p).with_context(|| format!("--first-boot {}", p.display()))?.len();
            if len > iso::FIRST_BOOT_MAX {
                bail!("--first-boot {} is {len} bytes; the installer accepts at most 1 MiB", p.display());
            }
            std::fs::read(p)?
        }
        None => {
            let loaded = loaded.as_ref().expect("loaded without --first-boot");
            crate::firstboot::render(loaded, &generate::resolve_keys(loaded)?).into_bytes()
        }
    };
    let job = PrepareJob {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        mode: ModeFile::new(mode, http),
        answer: answer_text,
        first_boot: Some(fb_bytes),
        force,
        progress: common::output::show_progress(args),
        fsync,
    };
    if args.validate || args.check {
        let x = iso::Xorriso::find()?;
        iso::preflight(&x, &job)?;
        if args.check {
            println!(
                "would write {} ({} mode, adding {}{}, {})",
                output.display(),
                if mode == FetchMode::Iso { "iso" } else { "http" },
                iso::MODE_PATH,
                if job.answer.is_some() { ", /answer.toml" } else { "" },
                iso::FIRST_BOOT_PATH
            );
            return Ok(exit::CHANGES);
        }
        return Ok(exit::OK);
    }
    let report = iso::prepare(&job)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        common::output::note(args, &format!(
            "wrote {} (volume uuid {}, added {}; boot records verified)",
            report.output.display(), report.volume_uuid, report.added.join(", ")
        ));
    }
    Ok(exit::OK)
}

fn serve(args: &CommonArgs, listen: &str, token_env: &Option<String>) -> Result<i32> {
    let loaded = load(args)?;
    let tok = token(token_env, Some(&loaded))?;
    let kh = known_hosts(args, &loaded);
    let state = Arc::new(crate::serve::ServeState::build(&loaded, tok, kh.clone())?);
    if args.validate {
        return Ok(exit::OK);
    }
    let server = crate::serve::server(listen, crate::serve::http::Limits::default())?;
    let stop = server.shutdown_handle();
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
        .context("installing signal handlers")?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            log::warn!("signal {sig}: finishing in-flight requests, then stopping");
            stop.shutdown();
        }
    });
    eprintln!(
        "provision-iso serve: listening on http://{} ({} node(s), token {}, pins → {})",
        server.local_addr(),
        state.answers.len(),
        if state.token.is_some() { "required" } else { "not required" },
        kh.display()
    );
    server.run(crate::serve::handler(state))?;
    eprintln!("provision-iso serve: stopped");
    Ok(exit::OK)
}
