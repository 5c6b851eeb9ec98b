//! ZFS dataset properties the inventory may set (`[[zfs]] properties = { … }`).
//!
//! Only properties that `zfs set` can change on an existing filesystem are accepted, each with
//! its value domain (OpenZFS zfsprops(7)). Read-only and create-time-only properties are
//! refused with the reason, so a typo like `compresion` or `atime = "no"` fails at validation
//! instead of on the first `zfs set` over SSH. User properties (`module:name`, e.g.
//! `com.sun:auto-snapshot`) are free-form.

const ON_OFF: &[&str] = &["on", "off"];

/// Settable properties and their allowed literal values (`None` = checked by a function).
const SETTABLE: &[(&str, Option<&[&str]>)] = &[
    ("atime", Some(ON_OFF)),
    ("relatime", Some(ON_OFF)),
    ("readonly", Some(ON_OFF)),
    ("exec", Some(ON_OFF)),
    ("setuid", Some(ON_OFF)),
    ("devices", Some(ON_OFF)),
    ("nbmand", Some(ON_OFF)),
    ("overlay", Some(ON_OFF)),
    ("vscan", Some(ON_OFF)),
    ("zoned", Some(ON_OFF)),
    ("jailed", Some(ON_OFF)),
    ("canmount", Some(&["on", "off", "noauto"])),
    ("sync", Some(&["standard", "always", "disabled"])),
    ("xattr", Some(&["on", "off", "sa", "dir"])),
    ("acltype", Some(&["off", "noacl", "posix", "posixacl", "nfsv4"])),
    ("aclinherit", Some(&["discard", "noallow", "restricted", "passthrough", "passthrough-x"])),
    ("aclmode", Some(&["discard", "groupmask", "passthrough", "restricted"])),
    ("primarycache", Some(&["all", "none", "metadata"])),
    ("secondarycache", Some(&["all", "none", "metadata"])),
    ("logbias", Some(&["latency", "throughput"])),
    ("snapdir", Some(&["hidden", "visible", "disabled"])),
    ("snapdev", Some(&["hidden", "visible"])),
    ("volmode", Some(&["default", "full", "geom", "dev", "none"])),
    ("redundant_metadata", Some(&["all", "most", "some", "none"])),
    ("dnodesize", Some(&["legacy", "auto", "1k", "2k", "4k", "8k", "16k"])),
    ("copies", Some(&["1", "2", "3"])),
    (
        "checksum",
        Some(&["on", "off", "fletcher2", "fletcher4", "sha256", "noparity", "sha512", "skein", "edonr", "blake3"]),
    ),
    ("dedup", None),
    ("compression", None),
    ("recordsize", None),
    ("special_small_blocks", None),
    ("quota", None),
    ("refquota", None),
    ("reservation", None),
    ("refreservation", None),
    ("mountpoint", None),
    ("sharenfs", None),
    ("sharesmb", None),
    ("keylocation", None),
    ("filesystem_limit", None),
    ("snapshot_limit", None),
    ("context", None),
    ("fscontext", None),
    ("defcontext", None),
    ("rootcontext", None),
];

const CREATE_ONLY: &[&str] = &["casesensitivity", "normalization", "utf8only", "encryption", "keyformat", "pbkdf2iters", "volblocksize"];

const READ_ONLY: &[&str] = &[
    "available", "avail", "compressratio", "createtxg", "creation", "clones", "defer_destroy", "encryptionroot",
    "filesystem_count", "guid", "keystatus", "logicalreferenced", "logicalused", "mounted", "objsetid", "origin",
    "receive_resume_token", "redact_snaps", "referenced", "refcompressratio", "snapshot_count", "snapshots_changed",
    "type", "used", "usedbychildren", "usedbydataset", "usedbyrefreservation", "usedbysnapshots", "userrefs",
    "written", "version",
];

/// Check one `name = value` pair.
pub fn check_zfs_property(name: &str, value: &str) -> Result<(), String> {
    if name.contains(':') {
        return check_user_property(name);
    }
    if READ_ONLY.contains(&name) {
        return Err(format!("ZFS property `{name}` is read-only; remove it"));
    }
    if CREATE_ONLY.contains(&name) {
        return Err(format!("ZFS property `{name}` can only be chosen when the dataset is created; `zfs set` cannot change it — remove it"));
    }
    let Some((_, allowed)) = SETTABLE.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "unknown ZFS property `{name}`; settable properties are e.g. compression, atime, relatime, recordsize, xattr, acltype, sync (see zfsprops(7)); user properties look like `module:name`"
        ));
    };
    let bad = |expected: &str| Err(format!("`{value}` is not a valid value for ZFS property `{name}`; expected {expected}"));
    if let Some(allowed) = allowed {
        if allowed.contains(&value) {
            return Ok(());
        }
        return bad(&allowed.join(", "));
    }
    let ok = match name {
        "compression" => is_compression(value),
        "dedup" => is_dedup(value),
        "recordsize" => size_bytes(value).is_some_and(|n| n.is_power_of_two() && (512..=16 << 20).contains(&n)),
        "special_small_blocks" => size_bytes(value).is_some_and(|n| n == 0 || (n.is_power_of_two() && n <= 16 << 20)),
        "quota" | "refquota" | "reservation" | "refreservation" => {
            value == "none" || (name == "refreservation" && value == "auto") || size_bytes(value).is_some()
        }
        "mountpoint" => value == "none" || value == "legacy" || value.starts_with('/'),
        "keylocation" => value == "prompt" || value.starts_with("file://") || value.starts_with("https://") || value.starts_with("http://"),
        "filesystem_limit" | "snapshot_limit" => value == "none" || value.parse::<u64>().is_ok(),
        _ => !value.is_empty(),
    };
    if ok {
        return Ok(());
    }
    bad(match name {
        "compression" => "on, off, lz4, zstd, zstd-1..zstd-19, zstd-fast, zstd-fast-N, gzip, gzip-1..gzip-9, lzjb, zle",
        "dedup" => "on, off, verify, or a checksum (sha256, sha512, skein, edonr, blake3) optionally followed by `,verify`",
        "recordsize" => "a power of two from 512 to 16M, e.g. 128K or 1M",
        "special_small_blocks" => "0 or a power of two up to 16M, e.g. 64K",
        "quota" | "refquota" | "reservation" => "none or a size such as 100G",
        "refreservation" => "none, auto or a size such as 100G",
        "mountpoint" => "an absolute path, none or legacy",
        "keylocation" => "prompt, file:///path or https://URL",
        "filesystem_limit" | "snapshot_limit" => "none or a number",
        _ => "a non-empty value",
    })
}

fn is_compression(v: &str) -> bool {
    let level = |rest: &str, lo: u32, hi: u32| rest.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n));
    match v {
        "on" | "off" | "lz4" | "lzjb" | "zle" | "gzip" | "zstd" | "zstd-fast" => true,
        _ => {
            if let Some(n) = v.strip_prefix("zstd-fast-") {
                level(n, 1, 10) || matches!(n, "20" | "30" | "40" | "50" | "60" | "70" | "80" | "90" | "100" | "500" | "1000")
            } else if let Some(n) = v.strip_prefix("zstd-") {
                level(n, 1, 19)
            } else if let Some(n) = v.strip_prefix("gzip-") {
                level(n, 1, 9)
            } else {
                false
            }
        }
    }
}

fn is_dedup(v: &str) -> bool {
    const SUMS: &[&str] = &["on", "sha256", "sha512", "skein", "edonr", "blake3"];
    match v.split_once(',') {
        None => v == "off" || v == "verify" || SUMS.contains(&v),
        Some((sum, "verify")) => SUMS.contains(&sum),
        _ => false,
    }
}

/// `512`, `128K`, `1M`, `100G`, `1.5T` → bytes (binary units, as zfs(8) reads them: libzfs's
/// `zfs_nicestrtonum` multiplies a fraction out and truncates). configure-storage compares the
/// inventory's values with `zfs get -p` bytes through this same function.
pub fn size_bytes(v: &str) -> Option<u64> {
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let bytes = n * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// User properties: `module:property`, lower-case letters, digits and `:+._-`, ≤ 256 chars.
fn check_user_property(name: &str) -> Result<(), String> {
    let ok = name.len() <= 256
        && !name.starts_with(':')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '+' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a ZFS user property name: lower-case letters, digits and `:+._-`, like `com.sun:auto-snapshot`"))
    }
}

/// A dataset name: `pool[/child…]`; the pool starts with a letter, components use
/// letters, digits and `_-.:` (no snapshots `@`, no bookmarks `#`).
pub fn check_dataset(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the dataset name is empty (e.g. rpool/data)".into());
    }
    if name.contains(['@', '#']) {
        return Err(format!("`{name}` names a snapshot or bookmark; give a filesystem such as rpool/data"));
    }
    if name.starts_with('/') {
        return Err(format!("`{name}` is a mount point; give the dataset name without the leading `/` (e.g. rpool/data)"));
    }
    for (i, comp) in name.split('/').enumerate() {
        let ok = !comp.is_empty()
            && comp.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            && (i > 0 || comp.starts_with(|c: char| c.is_ascii_alphabetic()));
        if !ok {
            return Err(format!(
                "`{name}` is not a dataset name: components use letters, digits, `_-.:`, the pool name starts with a letter (e.g. rpool/data)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties() {
        assert!(check_zfs_property("compression", "lz4").is_ok());
        assert!(check_zfs_property("compression", "zstd-3").is_ok());
        assert!(check_zfs_property("compression", "zstd-30").is_err());
        assert!(check_zfs_property("atime", "off").is_ok());
        assert!(check_zfs_property("atime", "no").unwrap_err().contains("on, off"));
        assert!(check_zfs_property("recordsize", "1M").is_ok());
        assert!(check_zfs_property("recordsize", "100K").is_err());
        assert!(check_zfs_property("quota", "100G").is_ok());
        assert!(check_zfs_property("dedup", "sha256,verify").is_ok());
        assert!(check_zfs_property("compresion", "lz4").unwrap_err().contains("unknown"));
        assert!(check_zfs_property("used", "1").unwrap_err().contains("read-only"));
        assert!(check_zfs_property("casesensitivity", "mixed").unwrap_err().contains("created"));
        assert!(check_zfs_property("com.sun:auto-snapshot", "true").is_ok());
    }

    #[test]
    fn datasets() {
        assert!(check_dataset("rpool/data").is_ok());
        assert!(check_dataset("rpool").is_ok());
        assert!(check_dataset("/rpool/data").is_err());
        assert!(check_dataset("rpool/data@snap").is_err());
        assert!(check_dataset("rpool//data").is_err());
    }
}
