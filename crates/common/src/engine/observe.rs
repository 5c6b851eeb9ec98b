//! Batched observation: every probe of a host in ONE remote `sh -s` as root.
//!
//! Each probe runs in its own subshell (so `exit`, `cd` or `set -e` in one cannot disturb the
//! next) with stdin from /dev/null (stdin is the script itself). Its sections are delimited
//! on stdout and stderr by lines carrying a per-run random marker, so file content that a
//! probe prints cannot be mistaken for a delimiter; the end line carries the probe's exit
//! status. The layout follows the probe in research/ansible-baseline.md Appendix C.
//!
//! **Prefetch.** Most of a batch's cost on the host is starting programs: a `stat` and a
//! `sha256sum` per managed file, a `dpkg-query` per package list. A probe may declare what it
//! will look up with comment lines ([`prefetch_file`], [`prefetch_stat`], [`prefetch_package`]); the batch then
//! runs ONE `stat`, ONE `sha256sum` and ONE `dpkg-query` for all of them up front, and the
//! probes read the results from shell variables. A probe run on its own (no prelude) does the
//! work itself, so every probe stays correct alone; the prelude only makes the batch cheaper.

use crate::ssh::Session;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// What one probe printed and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Observed {
    /// A stand-in for unit tests of `evaluate`.
    pub fn new(stdout: &str, status: i32) -> Self {
        Observed { stdout: stdout.to_string(), stderr: String::new(), status }
    }

    /// Value of the first line `KEY rest…` (the `key value` layout most probes print).
    pub fn field(&self, key: &str) -> Option<&str> {
        self.stdout.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?;
            if rest.is_empty() {
                Some("")
            } else {
                rest.strip_prefix(' ')
            }
        })
    }
}

/// A marker no probe output can predict: 128 random bits from the OS-seeded hasher keys.
pub(super) fn random_marker() -> String {
    let mut hex = String::from("hiac-");
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        hex.push_str(&format!("{:016x}", h.finish()));
    }
    hex
}

/// What a section script does after a snippet that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnFailure {
    /// Run the next snippet anyway (probes are independent).
    Continue,
    /// Run nothing more (applied changes depend on the ones before them).
    Stop,
}

/// The batched script for `probes` (public for tests and for `--check -vv` debugging).
pub fn build_script(marker: &str, probes: &[(String, String)]) -> String {
    build_sections(marker, probes, OnFailure::Continue)
}

const PREFETCH_FILE: &str = "# hiac-prefetch file ";
const PREFETCH_STAT: &str = "# hiac-prefetch stat ";
const PREFETCH_PACKAGE: &str = "# hiac-prefetch package ";

/// Can `s` go into the prelude and the probes' lookups as is? Plain names only: the lookups
/// match `path|` and `  path<newline>` literally, and `sha256sum` escapes odd names.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+@:,-".contains(&b))
}

fn prefetch_line(kind: &str, what: &str) -> String {
    if plain(what) {
        format!("{kind}{what}\n")
    } else {
        String::new()
    }
}

/// The comment line a probe starts with to have `path`'s `stat` and sha256 computed by the
/// batch's prelude, for [`LOOKUP_META`] and [`LOOKUP_SHA256`]. Empty (no prefetch) for paths
/// that are not plain.
pub fn prefetch_file(path: &str) -> String {
    prefetch_line(PREFETCH_FILE, path)
}

/// Like [`prefetch_file`], `stat` only (for [`LOOKUP_META`]; directories too).
pub fn prefetch_stat(path: &str) -> String {
    prefetch_line(PREFETCH_STAT, path)
}

/// The comment line a probe starts with to have package `name` queried by the batch's one
/// `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' …` (output in `hiac_dpkg`, exit
/// status in `hiac_dpkg_status`).
pub fn prefetch_package(name: &str) -> String {
    prefetch_line(PREFETCH_PACKAGE, name)
}

/// Shell code: `meta` = `MODE USER GROUP SIZE` of `$p` (a regular file or directory, not a
/// symlink) from the prefetch, or empty when the batch has none for it.
pub const LOOKUP_META: &str = "meta=\nif [ -n \"${hiac_prefetched:-}\" ]; then case \"$hiac_stat\" in *\"\n$p|\"*) r=${hiac_stat#*\"\n$p|\"}; meta=${r%%\"\n\"*};; esac; fi\n";

/// Shell code: `h` = the sha256 of regular file `$p` from the prefetch, or empty.
pub const LOOKUP_SHA256: &str = "h=\nif [ -n \"${hiac_prefetched:-}\" ]; then case \"$hiac_sums\" in *\"  $p\n\"*) r=${hiac_sums%%\"  $p\n\"*}; h=${r##*\"\n\"};; esac; fi\n";

/// The prelude for the prefetch lines of `snippets` (empty when there are none). It sets
/// `hiac_prefetched=1`, `hiac_stat` (`\npath|MODE USER GROUP SIZE\n` lines for the regular
/// files and directories among the paths), `hiac_sums` (`\nSHA256  path\n` lines for the
/// regular files among the `file` paths), `hiac_dpkg` and `hiac_dpkg_status`.
fn prelude(snippets: &[(String, String)]) -> String {
    let mut hashed = std::collections::BTreeSet::new();
    let mut stated = std::collections::BTreeSet::new();
    let mut packages = std::collections::BTreeSet::new();
    for (_, snippet) in snippets {
        for line in snippet.lines() {
            if let Some(p) = line.strip_prefix(PREFETCH_FILE).filter(|p| plain(p)) {
                hashed.insert(p);
                stated.insert(p);
            } else if let Some(p) = line.strip_prefix(PREFETCH_STAT).filter(|p| plain(p)) {
                stated.insert(p);
            } else if let Some(n) = line.strip_prefix(PREFETCH_PACKAGE).filter(|n| plain(n)) {
                packages.insert(n);
            }
        }
    }
    if stated.is_empty() && packages.is_empty() {
        return String::new();
    }
    let join = |set: std::collections::BTreeSet<&str>| set.into_iter().collect::<Vec<_>>().join(" ");
    let mut s = String::from("hiac_prefetched=1\nhiac_stat=\nhiac_sums=\n");
    // Never a symlink (probes treat those apart); never hash anything but a regular file (a
    // FIFO would block sha256sum). One stat and one sha256sum for all.
    if !stated.is_empty() {
        s.push_str(&format!(
            "set --\nfor hiac_p in {}; do if [ ! -L \"$hiac_p\" ] && {{ [ -f \"$hiac_p\" ] || [ -d \"$hiac_p\" ]; }}; then set -- \"$@\" \"$hiac_p\"; fi; done\n\
             [ $# -eq 0 ] || hiac_stat=\"\n$(stat -c '%n|%a %U %G %s' -- \"$@\" 2>/dev/null)\n\"\n",
            join(stated)
        ));
    }
    if !hashed.is_empty() {
        s.push_str(&format!(
            "set --\nfor hiac_p in {}; do if [ ! -L \"$hiac_p\" ] && [ -f \"$hiac_p\" ]; then set -- \"$@\" \"$hiac_p\"; fi; done\n\
             [ $# -eq 0 ] || hiac_sums=\"\n$(sha256sum -- \"$@\" 2>/dev/null)\n\"\n",
            join(hashed)
        ));
    }
    s.push_str("set --\n");
    if !packages.is_empty() {
        s.push_str(&format!(
            "hiac_dpkg=$(dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {} 2>&1); hiac_dpkg_status=$?\n",
            join(packages)
        ));
    }
    s
}

/// Every snippet in its own subshell, stdin /dev/null, between begin/end lines carrying
/// `marker`, its index and (on the end line of stdout) its exit status.
pub(super) fn build_sections(marker: &str, snippets: &[(String, String)], on_failure: OnFailure) -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    let what = match on_failure {
        OnFailure::Continue => {
            s.push_str(&prelude(snippets));
            "probe"
        }
        OnFailure::Stop => "change",
    };
    for (i, (key, snippet)) in snippets.iter().enumerate() {
        s.push_str(&format!("# {what} {i}: {}\n", key.replace('\n', " ")));
        s.push_str(&format!("printf '%s\\n' '{marker} {i} begin'; printf '%s\\n' '{marker} {i} begin' >&2\n"));
        s.push_str("(\n");
        s.push_str(snippet);
        if !snippet.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(") </dev/null\n");
        s.push_str(&format!(
            "s=$?; printf '\\n%s %s\\n' '{marker} {i} end' \"$s\"; printf '\\n%s\\n' '{marker} {i} end' >&2\n"
        ));
        if on_failure == OnFailure::Stop {
            s.push_str("[ \"$s\" -eq 0 ] || exit 0\n");
        }
    }
    s
}

/// Text between the begin line of section `i` and its end marker; plus what follows the
/// end marker on its line.
fn section<'a>(text: &'a str, marker: &str, i: usize) -> Option<(&'a str, &'a str)> {
    let begin = format!("{marker} {i} begin\n");
    let start = text.find(&begin)? + begin.len();
    let end_pat = format!("\n{marker} {i} end");
    let len = text[start..].find(&end_pat)?;
    let after = &text[start + len + end_pat.len()..];
    let tail = after.split('\n').next().unwrap_or("");
    Some((&text[start..start + len], tail))
}

/// Section `i` of the script's output, or `None` when it did not run to its end.
pub(super) fn parse_section(marker: &str, stdout: &str, stderr: &str, i: usize) -> Option<Result<Observed>> {
    let (out, tail) = section(stdout, marker, i)?;
    let status = match tail.trim().parse::<i32>() {
        Ok(s) => s,
        Err(_) => return Some(Err(anyhow::anyhow!("section #{i}: bad status {tail:?}"))),
    };
    let err = section(stderr, marker, i).map(|(e, _)| e).unwrap_or("");
    Some(Ok(Observed { stdout: out.to_string(), stderr: err.to_string(), status }))
}

/// Split the script's output into one [`Observed`] per probe, in order.
pub fn parse_sections(marker: &str, stdout: &str, stderr: &str, count: usize) -> Result<Vec<Observed>> {
    (0..count)
        .map(|i| {
            parse_section(marker, stdout, stderr, i)
                .with_context(|| format!("probe #{i} produced no complete section (the probe script stopped early)"))?
        })
        .collect()
}

/// Run all `probes` (key, POSIX sh snippet) as root in one round trip.
pub fn observe(session: &Session, probes: &[(String, String)]) -> Result<HashMap<String, Observed>> {
    let list = observe_list(session, probes)?;
    Ok(probes.iter().map(|(k, _)| k.clone()).zip(list).collect())
}

/// Like [`observe`], results in probe order (keys need not be unique).
pub fn observe_list(session: &Session, probes: &[(String, String)]) -> Result<Vec<Observed>> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let marker = random_marker();
    let script = build_script(&marker, probes);
    let out = session.script_root(&script)?;
    match parse_sections(&marker, &out.stdout, &out.stderr, probes.len()) {
        Ok(list) => Ok(list),
        Err(e) => bail!(
            "{}: observing state failed: {e:#} (exit {}; stderr: {})",
            session.host(),
            out.status,
            out.tail(5)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_round_trip_through_a_real_shell() {
        let probes = vec![
            ("a".to_string(), "echo one; echo err >&2".to_string()),
            ("b".to_string(), "printf 'no newline'; exit 3".to_string()),
            ("c".to_string(), "cat; echo \"read: $?\"".to_string()), // must not eat the script
            ("d".to_string(), "printf 'two\\n\\n'".to_string()),
        ];
        let m = random_marker();
        assert_eq!(m.len(), 5 + 32);
        let script = build_script(&m, &probes);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let list = parse_sections(&m, &String::from_utf8_lossy(&out.stdout), &String::from_utf8_lossy(&out.stderr), 4)
            .unwrap();
        assert_eq!(list[0], Observed { stdout: "one\n".into(), stderr: "err\n".into(), status: 0 });
        assert_eq!(list[1].stdout, "no newline");
        assert_eq!(list[1].status, 3);
        assert_eq!(list[2].stdout, "read: 0\n");
        assert_eq!(list[3].stdout, "two\n\n");
    }

    /// The prefetch prelude is an optimisation only: every probe must observe exactly what it
    /// observes when run alone — files in state, differing, absent, a symlink, a FIFO (never
    /// hashed), a path too odd to prefetch, and packages.
    #[test]
    fn prefetched_probes_observe_what_they_observe_alone() {
        use crate::baseline::resources::EditedFile;
        use crate::engine::resources::{Directory, File, Packages};
        use crate::engine::Resource;
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
        std::fs::write(at("same"), "one\n").unwrap();
        std::fs::write(at("differs"), "old\n").unwrap();
        std::fs::write(at("odd name"), "x\n").unwrap();
        std::os::unix::fs::symlink(at("same"), at("link")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(at("fifo")).status().unwrap().success());
        let mut resources: Vec<Box<dyn Resource>> = vec![
            Box::new(File::new(&at("same"), "one\n", 0o644)),
            Box::new(File::new(&at("differs"), "new\n", 0o600)),
            Box::new(File::new(&at("absent"), "x", 0o644)),
            Box::new(File::new(&at("link"), "one\n", 0o644)),
            Box::new(File::new(&at("fifo"), "x", 0o644)),
            Box::new(File::new(&at("odd name"), "x\n", 0o644)),
            Box::new(Directory::new(dir.path().to_str().unwrap(), 0o755)),
            Box::new(EditedFile::new(&at("same"), "append", |c| Some(format!("{}two\n", c.unwrap_or(""))))),
            Box::new(Directory::new(&at("absent-dir"), 0o755)),
        ];
        let dpkg = std::process::Command::new("dpkg-query").arg("--version").output().is_ok();
        if dpkg {
            resources.push(Box::new(Packages::new(&["dpkg", "surely-not-a-package-hiac"])));
            resources.push(Box::new(Packages::new(&["dpkg"])));
        }
        let probes: Vec<(String, String)> = resources.iter().map(|r| (r.id(), r.probe())).collect();
        let m = random_marker();
        let script = build_script(&m, &probes);
        assert!(script.contains("hiac_prefetched=1") && !script.contains("for hiac_p in *odd name"), "{script}");
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let batched =
            parse_sections(&m, &String::from_utf8_lossy(&out.stdout), &String::from_utf8_lossy(&out.stderr), probes.len())
                .unwrap();
        for ((id, probe), b) in probes.iter().zip(&batched) {
            let alone = std::process::Command::new("sh").arg("-c").arg(probe).stdin(std::process::Stdio::null()).output().unwrap();
            let alone_out = String::from_utf8_lossy(&alone.stdout);
            if id.starts_with("packages") {
                // The batch prints every prefetched package's line; what matters is the verdict.
                let r = resources.iter().find(|r| &r.id() == id).unwrap();
                let a = Observed::new(&alone_out, alone.status.code().unwrap());
                assert_eq!(r.evaluate(b).unwrap(), r.evaluate(&a).unwrap(), "{id}: {b:?} vs {a:?}");
            } else {
                assert_eq!((b.stdout.as_str(), b.status), (&*alone_out, alone.status.code().unwrap()), "{id}");
            }
        }
        assert!(batched[1].stdout.contains("meta 644 ") && batched[1].stdout.ends_with("content\nold\n"), "{:?}", batched[1]);
        assert_eq!(batched[4].stdout, "type other\n", "a FIFO is neither hashed nor read");

        // And the prefetch is really used: with stat, sha256sum and dpkg-query unusable after
        // the prelude, the prefetched probes still observe the same.
        let poison = "stat() { return 99; }\nsha256sum() { return 99; }\n";
        let cut = script.find("# probe 0:").unwrap();
        let poisoned = format!("{}{poison}{}", &script[..cut], script[cut..].replace("dpkg-query", "false"));
        assert!(script[..cut].contains("dpkg-query") || !dpkg, "the prelude queries the packages");
        let out = std::process::Command::new("sh").arg("-c").arg(&poisoned).output().unwrap();
        let again =
            parse_sections(&m, &String::from_utf8_lossy(&out.stdout), &String::from_utf8_lossy(&out.stderr), probes.len())
                .unwrap();
        for i in [0, 1, 6, 7] {
            assert_eq!(again[i], batched[i], "{}", probes[i].0);
        }
        if dpkg {
            let r = &resources[9];
            assert_eq!(r.evaluate(&again[9]).unwrap(), r.evaluate(&batched[9]).unwrap());
        }
    }

    #[test]
    fn missing_section_is_an_error() {
        let e = parse_sections("m", "m 0 begin\nx\nm 0 end 0\n", "", 2).unwrap_err();
        assert!(e.to_string().contains("probe #1"), "{e}");
    }

    #[test]
    fn field_reads_key_value_lines() {
        let o = Observed::new("type file\nmode 644\nempty\n", 0);
        assert_eq!(o.field("mode"), Some("644"));
        assert_eq!(o.field("empty"), Some(""));
        assert_eq!(o.field("mod"), None);
    }
}
