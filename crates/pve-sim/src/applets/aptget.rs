//! Offline `apt-get` for lab hosts (BRIEFING "apt-get in lab hosts").
//!
//! - `update`: reads every sources file (deb822 `.sources` minimally, one-line `.list`), fails like
//!   apt on a malformed entry (`E: Malformed entry N in ... file ... (Field)`, exit 100), otherwise
//!   prints `Hit:` lines and succeeds. Simplification: the enterprise repositories do not fail with
//!   401 as they would on a node without subscription (BRIEFING: update succeeds).
//! - `install P…`: hidden packages are restored and their real postinst `configure` runs; with
//!   systemd semantics emulated afterwards (units a package enables/starts on a systemd host are
//!   enabled/started through the systemctl shim, honouring `/usr/sbin/policy-rc.d`). Packages
//!   already installed succeed; unknown ones fail with `E: Unable to locate package P` (exit 100).
//! - `remove`/`purge P…`: hides the package again (for drift tests).
//! - `upgrade`/`full-upgrade`/`dist-upgrade`: nothing to do, `0 upgraded …`.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::{packages, sys};

fn apt_err(msgs: &[String]) -> i32 {
    for m in msgs {
        eprintln!("E: {m}");
    }
    100
}

/// One source entry: (types, uris, suites, components, enabled).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub enabled: bool,
}

/// Parse a deb822 `.sources` file like apt (minimal). Errors are apt's messages.
pub fn parse_sources(path: &str, text: &str) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    let mut n = 0;
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                    continue;
                }
                return Err(format!("Malformed stanza 1 in source list {path} (field)"));
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err(format!("Malformed stanza {} in source list {path} (field)", n + 1));
            };
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if fields.is_empty() {
            continue;
        }
        n += 1;
        let get = |k: &str| fields.iter().find(|(fk, _)| fk == k).map(|(_, v)| v.clone());
        let enabled = !matches!(get("enabled").as_deref().map(str::to_ascii_lowercase).as_deref(), Some("no" | "false" | "0"));
        let Some(types) = get("types") else { return Err(format!("Malformed entry {n} in sources file {path} (type)")) };
        if !types.split_whitespace().all(|t| t == "deb" || t == "deb-src") {
            return Err(format!("Malformed entry {n} in sources file {path} (type)"));
        }
        let Some(uris) = get("uris") else { return Err(format!("Malformed entry {n} in sources file {path} (URI)")) };
        let Some(suites) = get("suites") else { return Err(format!("Malformed entry {n} in sources file {path} (Suite)")) };
        let comps: Vec<String> = get("components").map(|c| c.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        for uri in uris.split_whitespace() {
            for suite in suites.split_whitespace() {
                if comps.is_empty() && !suite.ends_with('/') {
                    return Err(format!("Malformed entry {n} in sources file {path} (Component)"));
                }
                out.push(Source { uri: uri.to_string(), suite: suite.to_string(), components: comps.clone(), enabled });
            }
        }
    }
    Ok(out)
}

/// Parse a one-line-style `.list` file.
pub fn parse_list(path: &str, text: &str) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut toks: Vec<&str> = line.split_whitespace().collect();
        let n = i + 1;
        if toks[0] != "deb" && toks[0] != "deb-src" {
            return Err(format!("Type '{}' is not known on line {n} in source list {path}", toks[0]));
        }
        toks.remove(0);
        if toks.first().is_some_and(|t| t.starts_with('[')) {
            while let Some(t) = toks.first() {
                let end = t.ends_with(']');
                toks.remove(0);
                if end {
                    break;
                }
            }
        }
        let Some(uri) = toks.first() else { return Err(format!("Malformed entry {n} in list file {path} (URI)")) };
        let Some(suite) = toks.get(1) else { return Err(format!("Malformed entry {n} in list file {path} (dist)")) };
        let comps: Vec<String> = toks[2..].iter().map(|s| s.to_string()).collect();
        if comps.is_empty() && !suite.ends_with('/') {
            return Err(format!("Malformed entry {n} in list file {path} (Component)"));
        }
        out.push(Source { uri: uri.to_string(), suite: suite.to_string(), components: comps, enabled: true });
    }
    Ok(out)
}

fn source_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let main = sys::p("/etc/apt/sources.list");
    if main.is_file() {
        v.push(main);
    }
    if let Ok(rd) = fs::read_dir(sys::p("/etc/apt/sources.list.d")) {
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("list" | "sources")))
            .collect();
        files.sort();
        v.extend(files);
    }
    v
}

fn update(quiet: bool) -> i32 {
    let mut all = Vec::new();
    for f in source_files() {
        let shown = format!("/{}", f.strip_prefix(sys::root()).unwrap_or(&f).display()).replace("//", "/");
        let text = sys::read_opt(&f).unwrap_or_default();
        let parsed = if f.extension().and_then(|e| e.to_str()) == Some("sources") {
            parse_sources(&shown, &text)
        } else {
            parse_list(&shown, &text)
        };
        match parsed {
            Ok(s) => all.extend(s.into_iter().filter(|s| s.enabled)),
            Err(e) => return apt_err(&[e, "The list of sources could not be read.".into()]),
        }
    }
    if !quiet {
        for (i, s) in all.iter().enumerate() {
            println!("Hit:{} {} {} InRelease", i + 1, s.uri.trim_end_matches('/'), s.suite);
        }
        println!("Reading package lists...");
    }
    0
}

fn preamble(quiet: bool) {
    if !quiet {
        println!("Reading package lists...");
        println!("Building dependency tree...");
        println!("Reading state information...");
    }
}

/// Emulate what a systemd host does after the postinst (its sysv block is skipped there):
/// enable (`was-enabled defaults to true` block) and start (`deb-systemd-invoke $_dh_action`).
fn systemd_after_postinst(pkg: &str, postinst: &str) {
    let units: Vec<String> = packages::load_hidden().packages.get(pkg).map(|_| Vec::new()).unwrap_or_else(|| {
        postinst
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let rest = l.strip_prefix("deb-systemd-helper enable '")?;
                rest.split('\'').next().map(|u| u.trim_end_matches(".service").to_string())
            })
            .collect()
    });
    let new_install_enables = postinst.contains("was-enabled defaults to true");
    let starts = postinst.contains("deb-systemd-invoke $_dh_action");
    for u in units {
        if new_install_enables {
            let _ = crate::applets::systemctl::set_enabled(&u, true);
        }
        if starts && policy_allows(&u) {
            if let Err(e) = crate::applets::systemctl::start(&u) {
                eprintln!("{e}");
            }
        }
    }
}

/// `/usr/sbin/policy-rc.d <unit> start` → 101 means denied.
fn policy_allows(unit: &str) -> bool {
    let p = sys::p("/usr/sbin/policy-rc.d");
    if !p.is_file() {
        return true;
    }
    Command::new(&p).args([unit, "start"]).status().map(|s| s.code() != Some(101)).unwrap_or(true)
}

fn run_postinst(pkg: &str, version: &str) -> Result<()> {
    let info = sys::p("/var/lib/dpkg/info");
    let script = [format!("{pkg}.postinst"), format!("{pkg}:amd64.postinst"), format!("{pkg}:arm64.postinst")]
        .iter()
        .map(|n| info.join(n))
        .find(|p| p.is_file());
    let Some(script) = script else { return Ok(()) };
    let text = sys::read_opt(&script).unwrap_or_default();
    // The sysv block (`invoke-rc.d --skip-systemd-native`) is skipped on a systemd host; a shim dir
    // with a no-op invoke-rc.d reproduces that, the systemd part is emulated afterwards.
    let shim = sys::p("/var/lib/pve-sim/apt-shim");
    sys::mkdir_p(&shim, 0o755)?;
    let inv = shim.join("invoke-rc.d");
    if !inv.is_file() {
        sys::write_str(&inv, "#!/bin/sh\n# pve-sim: systemd host semantics, see apt-get shim\nexit 0\n", 0o755)?;
    }
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()));
    let st = Command::new(&script)
        .args(["configure", ""])
        .env("PATH", path)
        .env("DPKG_MAINTSCRIPT_PACKAGE", pkg)
        .env("DPKG_MAINTSCRIPT_NAME", "postinst")
        .env("DPKG_MAINTSCRIPT_ARCH", "amd64")
        .env("DPKG_RUNNING_VERSION", "1.21.22")
        .env("DPKG_ADMINDIR", "/var/lib/dpkg")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !st.success() {
        eprintln!("dpkg: error processing package {pkg} (--configure):");
        eprintln!(" installed {pkg} package post-installation script subprocess returned error exit status {}", st.code().unwrap_or(1));
        eprintln!("Errors were encountered while processing:");
        eprintln!(" {pkg}");
        return Err(crate::cli::Fail::Exit {
            code: 100,
            stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n".into(),
        }
        .into());
    }
    let _ = version;
    systemd_after_postinst(pkg, &text);
    Ok(())
}

fn install(pkgs: &[String], quiet: bool) -> Result<i32> {
    let installed = packages::installed();
    let hidden = packages::load_hidden();
    let mut missing = Vec::new();
    let mut new: Vec<String> = Vec::new();
    let mut present: Vec<String> = Vec::new();
    for p in pkgs {
        let name = p.split('=').next().unwrap_or(p).trim_end_matches('+').to_string();
        let name = name.split(':').next().unwrap_or(&name).to_string();
        if hidden.packages.contains_key(&name) {
            new.push(name);
        } else if installed.contains_key(&name) {
            present.push(name);
        } else {
            missing.push(name);
        }
    }
    preamble(quiet);
    if !missing.is_empty() {
        return Ok(apt_err(&missing.iter().map(|m| format!("Unable to locate package {m}")).collect::<Vec<_>>()));
    }
    if !quiet {
        for p in &present {
            println!("{p} is already the newest version ({}).", installed[p]);
        }
        if !new.is_empty() {
            println!("The following NEW packages will be installed:");
            println!("  {}", new.join(" "));
        }
        println!("0 upgraded, {} newly installed, 0 to remove and 0 not upgraded.", new.len());
    }
    for p in &new {
        let rec = packages::restore(p)?.unwrap_or_default();
        if !quiet {
            println!("Selecting previously unselected package {p}.");
            println!("Unpacking {p} ({}) ...", rec.version);
            println!("Setting up {p} ({}) ...", rec.version);
        }
        run_postinst(p, &rec.version)?;
    }
    Ok(0)
}

fn remove(pkgs: &[String], quiet: bool) -> Result<i32> {
    let installed = packages::installed();
    preamble(quiet);
    let mut n = 0;
    for p in pkgs {
        if installed.contains_key(p) {
            if !quiet {
                println!("Removing {p} ({}) ...", installed[p]);
            }
            packages::hide(p, &[])?;
            n += 1;
        } else if !quiet {
            println!("Package '{p}' is not installed, so not removed");
        }
    }
    if !quiet {
        println!("0 upgraded, 0 newly installed, {n} to remove and 0 not upgraded.");
    }
    Ok(0)
}

pub fn main(args: &[String]) -> Result<i32> {
    let mut quiet = false;
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a.as_str() {
            "-q" | "-qq" | "--quiet" => quiet = true,
            "-o" | "-c" | "-t" | "--target-release" => i += 1,
            s if s.starts_with('-') => {}
            s => words.push(s.to_string()),
        }
        i += 1;
    }
    let Some((cmd, rest)) = words.split_first() else {
        println!("apt 2.x (pve-sim offline shim)\nUsage: apt-get [options] command");
        return Ok(0);
    };
    match cmd.as_str() {
        "update" => Ok(update(quiet)),
        "install" | "reinstall" => {
            if rest.is_empty() {
                preamble(quiet);
                if !quiet {
                    println!("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.");
                }
                return Ok(0);
            }
            install(rest, quiet)
        }
        "remove" | "purge" | "autoremove" => remove(rest, quiet),
        "upgrade" | "full-upgrade" | "dist-upgrade" => {
            preamble(quiet);
            if !quiet {
                println!("Calculating upgrade...");
                println!("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.");
            }
            Ok(0)
        }
        "clean" | "autoclean" | "check" => Ok(0),
        other => Ok(apt_err(&[format!("Invalid operation {other}")])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_valid_and_disabled() {
        let t = "Types: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\nComponents: pve-enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\nEnabled: false\n";
        let s = parse_sources("/x.sources", t).unwrap();
        assert_eq!(s.len(), 1);
        assert!(!s[0].enabled);
    }

    #[test]
    fn deb822_malformed() {
        let e = parse_sources("/etc/apt/sources.list.d/x.sources", "Types: deb\nSuites: trixie\nComponents: main\n").unwrap_err();
        assert_eq!(e, "Malformed entry 1 in sources file /etc/apt/sources.list.d/x.sources (URI)");
        let e = parse_sources("/x.sources", "Types: deb\nURIs: http://a\nSuites: trixie\n").unwrap_err();
        assert!(e.ends_with("(Component)"));
    }

    #[test]
    fn list_files() {
        let s = parse_list("/l", "deb [arch=amd64] http://deb.debian.org/debian bookworm main contrib\n# c\n").unwrap();
        assert_eq!(s[0].components, vec!["main", "contrib"]);
        assert!(parse_list("/l", "deb http://x\n").is_err());
    }
}
