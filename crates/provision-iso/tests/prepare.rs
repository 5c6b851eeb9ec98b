//! `prepare` against a synthetic hybrid ISO built here with xorriso: El Torito BIOS and EFI
//! boot images, a GRUB2-style MBR, an appended EFI partition (GPT), `/auto-installer-capable`.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// xorriso is a test prerequisite: under CI a missing one fails, elsewhere the test skips.
fn have_xorriso() -> bool {
    let ok = Command::new("xorriso").arg("-version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "xorriso missing under CI=true: apt-get install xorriso");
        eprintln!("SKIP: xorriso not installed (apt-get install xorriso)");
    }
    ok
}

/// Build a small hybrid ISO like the Proxmox installer's layout.
fn make_iso(dir: &Path, name: &str, capable: bool) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::create_dir_all(root.join(".disk")).unwrap();
    std::fs::write(root.join(".disk/info"), "PRODUCTLONG='Proxmox VE'\n").unwrap();
    if capable {
        std::fs::write(root.join("auto-installer-capable"), "").unwrap();
    }
    let bios: Vec<u8> = (0..32768u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("boot/grub/eltorito.img"), bios).unwrap();
    std::fs::write(root.join("boot/efi.img"), vec![0u8; 65536]).unwrap();
    std::fs::write(dir.join("efi.img"), vec![0u8; 65536]).unwrap();
    std::fs::write(dir.join("mbr.bin"), vec![0u8; 446]).unwrap();
    let iso = dir.join(format!("{name}.iso"));
    let o = Command::new("xorriso")
        .current_dir(dir)
        .args(["-as", "mkisofs", "-o"])
        .arg(&iso)
        .args(["-V", "PVE", "-r", "-J", "-b", "boot/grub/eltorito.img", "-no-emul-boot", "-boot-load-size", "4"])
        .args(["-boot-info-table", "--grub2-boot-info", "--grub2-mbr", "mbr.bin"])
        .args(["-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot"])
        .args(["-append_partition", "2", "0xef", "efi.img", "-appended_part_as_gpt"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "mkisofs: {}", String::from_utf8_lossy(&o.stderr));
    iso
}

fn xorriso(args: &[&str]) -> String {
    let o = Command::new("xorriso").args(args).output().unwrap();
    assert!(o.status.success(), "xorriso {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn extract(iso: &Path, path: &str, dir: &Path) -> Option<Vec<u8>> {
    let out = dir.join(format!("x{}", path.replace('/', "_")));
    let o = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev", iso.to_str().unwrap(), "-extract", path, out.to_str().unwrap()])
        .output()
        .unwrap();
    o.status.success().then(|| std::fs::read(&out).unwrap())
}

/// `-report_system_area cmd`, normalised for what must differ after growing the image: the
/// image file name, and xorriso's re-reading of the appended EFI partition (same block
/// interval, reported as `efi_boot_part` instead of `-append_partition … appended_part_as=gpt`).
fn system_area(iso: &Path) -> Vec<String> {
    let name = iso.to_str().unwrap();
    xorriso(&["-indev", iso.to_str().unwrap(), "-report_system_area", "cmd"])
        .lines()
        .filter(|l| !l.contains("appended_part_as=gpt"))
        .map(|l| {
            let l = l.replace(name, "IMAGE");
            match (l.starts_with("-append_partition"), l.find("--interval:")) {
                (true, Some(i)) => format!("EFI partition {}", &l[i..]),
                _ => match l.find("efi_boot_part=--interval:") {
                    Some(i) => format!("EFI partition {}", &l[i + "efi_boot_part=".len()..]),
                    None => l,
                },
            }
        })
        .collect()
}

/// `-report_el_torito plain` without the catalog's block address (rewritten when growing).
fn el_torito(iso: &Path) -> Vec<String> {
    xorriso(&["-indev", iso.to_str().unwrap(), "-report_el_torito", "plain"])
        .lines()
        .filter(|l| !l.starts_with("El Torito catalog  :"))
        .map(str::to_string)
        .collect()
}

fn prepare(inv: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(["-i", inv.to_str().unwrap(), "prepare"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn iso_mode_embeds_answer_mode_and_first_boot_and_keeps_boot_records() {
    if !have_xorriso() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let inv = inventory_in(d.path());
    let input = make_iso(d.path(), "pve", true);
    let output = d.path().join("out/pve-auto.iso");
    std::fs::create_dir_all(output.parent().unwrap()).unwrap();
    let before = std::fs::read(&input).unwrap();
    let o = prepare(&inv, &["--iso", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--fetch-from", "iso", "--node", "pve-node2"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(ROOT_PW) && !text(&o).contains(TOKEN));
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input ISO was modified");
    assert_eq!(std::fs::metadata(&output).unwrap().permissions().mode() & 0o777, 0o600);

    let x = d.path();
    let mode = String::from_utf8(extract(&output, "/auto-installer-mode.toml", x).unwrap()).unwrap();
    assert_eq!(mode, "mode = \"iso\"\npartition_label = \"proxmox-ais\"\n\n[http]\n");
    let answer = String::from_utf8(extract(&output, "/answer.toml", x).unwrap()).unwrap();
    let report = provision_iso::answer::validate_str(&answer);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert!(answer.contains("fqdn = \"pve-node2.lab.home.arpa\"") && answer.contains("disk-list = [\"nvme0n1\"]"));
    let fb = String::from_utf8(extract(&output, "/proxmox-first-boot", x).unwrap()).unwrap();
    assert!(fb.starts_with("#!/bin/sh") && fb.contains("first-boot-done") && !fb.contains(TOKEN));
    assert!(extract(&output, "/auto-installer-capable", x).is_some());

    assert_eq!(el_torito(&input), el_torito(&output));
    assert_eq!(system_area(&input), system_area(&output));
    // No temporary files left beside the output.
    let left: Vec<_> = std::fs::read_dir(output.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn http_mode_writes_the_mode_file_with_url_fingerprint_and_token_from_env() {
    if !have_xorriso() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let inv = inventory_in(d.path());
    let input = make_iso(d.path(), "pve", true);
    let output = d.path().join("http.iso");
    let token = "env-only-token-123";
    let o = prepare(
        &inv,
        &["--iso", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--fetch-from", "http",
          "--url", "http://10.231.10.1:8000/answer", "--cert-fingerprint", "AA:BB", "--token-env", "PISO_HTTP_TOKEN"],
        &[("PISO_HTTP_TOKEN", token)],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(token), "token printed");
    let mode = String::from_utf8(extract(&output, "/auto-installer-mode.toml", d.path()).unwrap()).unwrap();
    assert_eq!(
        mode,
        format!("mode = \"http\"\npartition_label = \"proxmox-ais\"\n\n[http]\nurl = \"http://10.231.10.1:8000/answer\"\ncert_fingerprint = \"AA:BB\"\ntoken = \"{token}\"\n")
    );
    assert!(extract(&output, "/answer.toml", d.path()).is_none(), "http mode must not embed an answer");
    assert!(extract(&output, "/proxmox-first-boot", d.path()).is_some());
    assert_eq!(el_torito(&input), el_torito(&output));
    assert_eq!(system_area(&input), system_area(&output));
}

#[test]
fn refusals_non_capable_existing_output_missing_xorriso_big_first_boot() {
    if !have_xorriso() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let inv = inventory_in(d.path());
    let plain = make_iso(d.path(), "old", false);
    let out = d.path().join("o.iso");
    let base = |iso: &Path| vec!["--iso".to_string(), iso.display().to_string(), "--output".into(), out.display().to_string(), "--fetch-from".into(), "iso".into(), "--node".into(), "pve-node1".into()];
    let args = base(&plain);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = prepare(&inv, &a, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("The source ISO file is not able to be installed automatically. Please try a more current one."), "{}", text(&o));
    assert!(!out.exists());

    let good = make_iso(d.path(), "new", true);
    std::fs::write(&out, "keep me").unwrap();
    let args = base(&good);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = prepare(&inv, &a, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("already exists; pass --force"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let mut forced = a.clone();
    forced.push("--force");
    let o = prepare(&inv, &forced, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(extract(&out, "/answer.toml", d.path()).is_some());

    let o = prepare(&inv, &forced, &[("PATH", "/nonexistent")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("Could not find the 'xorriso' binary") && text(&o).contains("apt-get install xorriso"), "{}", text(&o));

    let big = d.path().join("big.sh");
    std::fs::write(&big, vec![b'#'; 1024 * 1024 + 1]).unwrap();
    let mut with_big = forced.clone();
    with_big.extend(["--first-boot", big.to_str().unwrap()]);
    let o = prepare(&inv, &with_big, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("at most 1 MiB"), "{}", text(&o));
}
