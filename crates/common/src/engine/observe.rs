//! Batched observation: every probe of a host in ONE remote `sh -s` as root.
//!
//! Each probe runs in its own subshell (so `exit`, `cd` or `set -e` in one cannot disturb the
//! next) with stdin from /dev/null (stdin is the script itself). Its sections are delimited
//! on stdout and stderr by lines carrying a per-run random marker, so file content that a
//! probe prints cannot be mistaken for a delimiter; the end line carries the probe's exit
//! status. The layout follows the probe in research/ansible-baseline.md Appendix C.

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
fn random_marker() -> String {
    let mut hex = String::from("hiac-");
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        hex.push_str(&format!("{:016x}", h.finish()));
    }
    hex
}

/// The batched script for `probes` (public for tests and for `--check -vv` debugging).
pub fn build_script(marker: &str, probes: &[(String, String)]) -> String {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    for (i, (key, snippet)) in probes.iter().enumerate() {
        s.push_str(&format!("# probe {i}: {}\n", key.replace('\n', " ")));
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

/// Split the script's output into one [`Observed`] per probe, in order.
pub fn parse_sections(marker: &str, stdout: &str, stderr: &str, count: usize) -> Result<Vec<Observed>> {
    (0..count)
        .map(|i| {
            let (out, tail) = section(stdout, marker, i)
                .with_context(|| format!("probe #{i} produced no complete section (the probe script stopped early)"))?;
            let status = tail.trim().parse::<i32>().with_context(|| format!("probe #{i}: bad status {tail:?}"))?;
            let err = section(stderr, marker, i).map(|(e, _)| e).unwrap_or("");
            Ok(Observed { stdout: out.to_string(), stderr: err.to_string(), status })
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
