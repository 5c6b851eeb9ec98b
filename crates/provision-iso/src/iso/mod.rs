//! `prepare`: turn a Proxmox installer ISO into an unattended one, like
//! `proxmox-auto-install-assistant prepare-iso` (auto-install.md §5.1–5.4).
//!
//! Steps: xorriso present → input is auto-installer capable → output free (or `--force`) →
//! read the volume-date UUID → copy the input next to the output (in-kernel copy) → add
//! `/auto-installer-mode.toml`, `/answer.toml` (iso mode) and `/proxmox-first-boot` in one
//! xorriso run that keeps the boot images and the UUID → read the added files back and compare,
//! check the boot records → rename into place. The output is never half-written.

pub mod xorriso;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use xorriso::Xorriso;

/// Largest first-boot executable the installer accepts (`FIRST_BOOT_EXEC_MAX_SIZE`, §5.1).
pub const FIRST_BOOT_MAX: u64 = 1024 * 1024;
pub const MODE_PATH: &str = "/auto-installer-mode.toml";
pub const ANSWER_PATH: &str = "/answer.toml";
pub const FIRST_BOOT_PATH: &str = "/proxmox-first-boot";
pub const CAPABLE_PATH: &str = "/auto-installer-capable";

/// `auto-installer-mode.toml` (§5.3): snake_case keys, written with `toml::to_string_pretty`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModeFile {
    pub mode: FetchMode,
    pub partition_label: String,
    pub http: HttpSettings,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FetchMode {
    Iso,
    Http,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HttpSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl ModeFile {
    pub fn new(mode: FetchMode, http: HttpSettings) -> Self {
        ModeFile { mode, partition_label: "proxmox-ais".into(), http }
    }
    pub fn render(&self) -> String {
        toml::to_string_pretty(self).expect("mode file serialises")
    }
}

/// Everything `prepare` needs, already resolved (no inventory access in here).
pub struct PrepareJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub mode: ModeFile,
    /// iso mode: the validated answer file.
    pub answer: Option<String>,
    /// The first-boot executable, ≤ 1 MiB.
    pub first_boot: Option<Vec<u8>>,
    pub force: bool,
    pub progress: bool,
    /// fsync the image before the rename (durable across a power cut, but waits for the
    /// whole ISO to reach the disk). Off by default: the ISO is a rebuildable artifact.
    pub fsync: bool,
}

/// What `prepare` did, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    pub output: PathBuf,
    pub volume_uuid: String,
    pub added: Vec<String>,
}

/// Refuse what the assistant refuses, before any work is done; returns the input's facts.
pub fn preflight(x: &Xorriso, job: &PrepareJob) -> Result<xorriso::IsoFacts> {
    if !job.input.is_file() {
        bail!("input ISO {} does not exist or is not a file", job.input.display());
    }
    if job.output.is_dir() {
        bail!("--output {} is a directory; give the path of the ISO file to write", job.output.display());
    }
    if job.output.exists() && !job.force {
        bail!("{} already exists; pass --force to replace it", job.output.display());
    }
    if same_file(&job.input, &job.output) {
        bail!("--output must differ from --iso");
    }
    let facts = x.inspect(&job.input)?;
    if !facts.capable {
        bail!(
            "The source ISO file is not able to be installed automatically. Please try a more current one. ({} has no {CAPABLE_PATH})",
            job.input.display()
        );
    }
    if let Some(fb) = &job.first_boot {
        if fb.len() as u64 > FIRST_BOOT_MAX {
            bail!("the first-boot executable is {} bytes; the installer accepts at most 1 MiB", fb.len());
        }
    }
    Ok(facts)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Run the whole preparation. On any error the output path is untouched.
pub fn prepare(job: &PrepareJob) -> Result<PrepareReport> {
    let x = Xorriso::find()?;
    let before = preflight(&x, job)?;
    let uuid = before.uuid.clone();
    let el_torito_before = boot_images(&before.el_torito.join("\n"));

    let out_dir = match job.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = job.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out.iso".into());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&out_dir)
        .with_context(|| format!("creating a temporary file in {}", out_dir.display()))?;
    copy_with_progress(&job.input, tmp.as_file(), tmp.path(), job.progress)?;

    // Stage the files to add in a private directory beside the output.
    let stage = tempfile::Builder::new().prefix(".provision-iso-stage.").tempdir_in(&out_dir)?;
    let mut files: Vec<(PathBuf, String, Vec<u8>)> = Vec::new();
    files.push((stage.path().join("auto-installer-mode.toml"), MODE_PATH.into(), job.mode.render().into_bytes()));
    if let Some(a) = &job.answer {
        files.push((stage.path().join("answer.toml"), ANSWER_PATH.into(), a.clone().into_bytes()));
    }
    if let Some(fb) = &job.first_boot {
        files.push((stage.path().join("proxmox-first-boot"), FIRST_BOOT_PATH.into(), fb.clone()));
    }
    for (host, iso_path, data) in &files {
        let mode = if iso_path == FIRST_BOOT_PATH { 0o700 } else { 0o600 };
        crate::fsutil::write_atomic(host, data, mode)?;
    }
    let maps: Vec<(PathBuf, String)> = files.iter().map(|(h, i, _)| (h.clone(), i.clone())).collect();
    step(job.progress, "adding files to the ISO (xorriso)");
    x.inject(tmp.path(), &uuid, &maps)?;

    // Verify: read every added file back and compare; boot records and UUID unchanged.
    step(job.progress, "verifying the result");
    let check = tempfile::Builder::new().prefix(".provision-iso-verify.").tempdir_in(&out_dir)?;
    let outs: Vec<(String, PathBuf)> =
        files.iter().enumerate().map(|(i, (_, p, _))| (p.clone(), check.path().join(format!("f{i}")))).collect();
    let after = x.extract_and_inspect(tmp.path(), &outs)?;
    for ((_, iso_path, data), (_, out)) in files.iter().zip(&outs) {
        let got = std::fs::read(out).with_context(|| format!("reading back {iso_path}"))?;
        if &got != data {
            bail!("verification failed: {iso_path} in the written ISO differs from what was added");
        }
    }
    let uuid_after = after.uuid.clone();
    if uuid_after != uuid {
        bail!("verification failed: the volume UUID changed ({uuid} → {uuid_after}); EFI boot from USB would break");
    }
    let el_torito_after = boot_images(&after.el_torito.join("\n"));
    if el_torito_after != el_torito_before {
        bail!("verification failed: the El Torito boot images changed:\nbefore:\n{}\nafter:\n{}", el_torito_before.join("\n"), el_torito_after.join("\n"));
    }

    if job.fsync {
        step(job.progress, "flushing the image to disk");
        tmp.as_file().sync_all()?;
    }
    // 0600: in iso mode the image carries the password hash (and maybe the webhook token).
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    tmp.persist(&job.output).with_context(|| format!("moving the result to {}", job.output.display()))?;
    Ok(PrepareReport { output: job.output.clone(), volume_uuid: uuid, added: files.into_iter().map(|(_, p, _)| p).collect() })
}

/// The El Torito boot image lines of `-report_el_torito plain`, without the catalog line
/// (the catalog is rewritten at a new block when the image grows; the images themselves stay).
pub fn boot_images(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| l.starts_with("El Torito") && !l.starts_with("El Torito catalog"))
        .map(str::to_string)
        .collect()
}

fn step(progress: bool, msg: &str) {
    if progress {
        eprintln!("{msg}…");
    }
    log::info!("{msg}");
}

/// Copy `from` into the already created (empty) temp file `to` with `std::io::copy`, which
/// uses copy_file_range on Linux (no data through user space), in a worker thread while the
/// caller's thread shows progress. Writing through the open handle matters: re-opening the
/// temp file with O_TRUNC (as `std::fs::copy` does) makes ext4 flush the whole file on close
/// (its replace-via-truncate heuristic) — that alone doubled the run time for a 1 GiB image.
fn copy_with_progress(from: &Path, to: &std::fs::File, to_path: &Path, progress: bool) -> Result<()> {
    let mut src = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let total = src.metadata()?.len();
    let mut dst = to.try_clone()?;
    let worker = std::thread::spawn(move || std::io::copy(&mut src, &mut dst));
    if progress {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("copying ISO {bar:40} {bytes}/{total_bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while !worker.is_finished() {
            if let Ok(m) = std::fs::metadata(to_path) {
                bar.set_position(m.len().min(total));
            }
            std::thread::park_timeout(std::time::Duration::from_millis(100));
        }
        bar.finish_and_clear();
    }
    let copied = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the copy thread panicked"))?
        .with_context(|| format!("copying {} to {}", from.display(), to_path.display()))?;
    if copied != total {
        bail!("copied {copied} of {total} bytes from {}", from.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact text of auto-install.md §5.3.
    #[test]
    fn mode_file_matches_the_assistant() {
        let m = ModeFile::new(
            FetchMode::Http,
            HttpSettings {
                url: Some("https://example.org/answer".into()),
                cert_fingerprint: Some("AA:BB".into()),
                token: Some("user:secret".into()),
            },
        );
        assert_eq!(
            m.render(),
            "mode = \"http\"\npartition_label = \"proxmox-ais\"\n\n[http]\nurl = \"https://example.org/answer\"\ncert_fingerprint = \"AA:BB\"\ntoken = \"user:secret\"\n"
        );
        let iso = ModeFile::new(FetchMode::Iso, HttpSettings::default()).render();
        assert_eq!(iso, "mode = \"iso\"\npartition_label = \"proxmox-ais\"\n\n[http]\n");
    }
}
