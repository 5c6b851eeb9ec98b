//! Thin wrapper around the `xorriso` binary, used the way `proxmox-auto-install-assistant`
//! uses it (auto-install.md §5.1, §5.4).

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Xorriso {
    bin: PathBuf,
}

/// Find an executable on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

impl Xorriso {
    /// `$HOMELAB_XORRISO` or `xorriso` on PATH.
    pub fn find() -> Result<Self> {
        if let Some(p) = std::env::var_os("HOMELAB_XORRISO") {
            let bin = PathBuf::from(p);
            if bin.is_file() {
                return Ok(Xorriso { bin });
            }
            bail!("HOMELAB_XORRISO={} is not a file", bin.display());
        }
        match which("xorriso") {
            Some(bin) => Ok(Xorriso { bin }),
            // The assistant's message, plus the Debian package to install.
            None => bail!("Could not find the 'xorriso' binary. Please install it: apt-get install xorriso"),
        }
    }

    fn run(&self, args: &[OsString], what: &str) -> Result<std::process::Output> {
        log::debug!("xorriso {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
        let out = Command::new(&self.bin)
            .args(args)
            .output()
            .with_context(|| format!("running {} ({what})", self.bin.display()))?;
        Ok(out)
    }

    fn run_ok(&self, args: &[OsString], what: &str) -> Result<String> {
        let out = self.run(args, what)?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().filter(|l| !l.contains(": UPDATE :")).collect();
            bail!("xorriso failed while {what} ({}):\n{}", out.status, tail[tail.len().saturating_sub(12)..].join("\n"));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Boot records, volume UUID and whether `/auto-installer-capable` exists, in one run
    /// (each xorriso start loads the image tree; one run instead of three keeps `prepare` fast).
    pub fn inspect(&self, iso: &Path) -> Result<IsoFacts> {
        let out = self.run_ok(
            &args(&[
                "-indev".as_ref(),
                iso.as_os_str(),
                "-report_system_area".as_ref(),
                "cmd".as_ref(),
                "-report_el_torito".as_ref(),
                "plain".as_ref(),
                "-find".as_ref(),
                "/".as_ref(),
                "-maxdepth".as_ref(),
                "1".as_ref(),
                "-name".as_ref(),
                "auto-installer-capable".as_ref(),
            ]),
            "reading the ISO",
        )?;
        IsoFacts::parse(&out).with_context(|| format!("{} has no volume date uuid (-report_system_area cmd)", iso.display()))
    }

    /// Extract files and report the boot records of the result, in one run.
    pub fn extract_and_inspect(&self, iso: &Path, files: &[(String, PathBuf)]) -> Result<IsoFacts> {
        let mut a: Vec<OsString> = args(&[
            "-osirrox".as_ref(),
            "on".as_ref(),
            "-indev".as_ref(),
            iso.as_os_str(),
            "-report_system_area".as_ref(),
            "cmd".as_ref(),
            "-report_el_torito".as_ref(),
            "plain".as_ref(),
        ]);
        for (iso_path, out) in files {
            a.push("-extract".into());
            a.push(iso_path.into());
            a.push(out.into());
        }
        let out = self.run_ok(&a, "reading back the written ISO")?;
        IsoFacts::parse(&out).context("the written ISO has no volume date uuid")
    }

    /// Add files to the image in place, keeping boot images and the volume UUID (§5.4). One
    /// invocation maps all files: the result equals the assistant's one-call-per-file
    /// sequence (same boot records), but the image is appended to once instead of N times.
    pub fn inject(&self, iso: &Path, uuid: &str, files: &[(PathBuf, String)]) -> Result<()> {
        let mut a: Vec<OsString> = args(&[
            // No fsync of the whole image from xorriso: right after the copy that would wait
            // for the full ISO to reach the disk (≈ the copy time again). `prepare --fsync`
            // flushes once at the end instead, when durability is wanted.
            "-stdio_sync".as_ref(),
            "off".as_ref(),
            "-boot_image".as_ref(),
            "any".as_ref(),
            "keep".as_ref(),
            "-volume_date".as_ref(),
            "uuid".as_ref(),
            uuid.as_ref(),
            "-dev".as_ref(),
            iso.as_os_str(),
        ]);
        for (host, iso_path) in files {
            a.push("-map".into());
            a.push(host.into());
            a.push(iso_path.into());
        }
        self.run_ok(&a, "adding files to the ISO").map(|_| ())
    }
}

/// What `inspect` learns about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoFacts {
    /// The `-volume_date uuid` value GRUB uses as the filesystem UUID (§5.4).
    pub uuid: String,
    pub capable: bool,
    /// `-report_el_torito plain` lines.
    pub el_torito: Vec<String>,
}

impl IsoFacts {
    fn parse(out: &str) -> Option<IsoFacts> {
        let uuid = out
            .lines()
            .find(|l| l.starts_with("-volume_date uuid"))
            .and_then(|l| l.split_whitespace().last())
            .map(|t| t.replace('\'', ""))?;
        Some(IsoFacts {
            uuid,
            capable: out.lines().any(|l| l.trim() == "'/auto-installer-capable'"),
            el_torito: out.lines().filter(|l| l.starts_with("El Torito")).map(str::to_string).collect(),
        })
    }
}

fn args(a: &[&std::ffi::OsStr]) -> Vec<OsString> {
    a.iter().map(|s| s.to_os_string()).collect()
}
