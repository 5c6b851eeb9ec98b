//! The operations phases use on a [`Session`]: exec (as the login user or as root), scripts,
//! atomic uploads and file reads. Each is exactly one remote round trip.

use super::error::SshError;
use super::session::Session;
use super::shell::{quote, sudo_refusal, sudo_wrap};
use anyhow::{bail, Context};
use base64::Engine as _;

/// What a remote command returned (output decoded lossily as UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Last `n` lines of stderr (or stdout when stderr is empty), for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        let lines: Vec<&str> = text.trim_end().lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// An atomic upload: see [`Session::upload`].
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub mode: u32,
    pub owner: &'a str,
    pub group: &'a str,
    /// Validation command run on the temp file before it replaces `path`; `{}` is replaced
    /// by the temp path, e.g. `visudo -cf {}` or `sshd -t -f {}`.
    pub validate: Option<&'a str>,
}

/// Exit status the upload script uses for "the validator rejected the file".
const VALIDATION_FAILED: i32 = 65;
/// Exit status of the read script for "no such file".
const ABSENT: i32 = 44;

impl Session {
    /// One remote command as the login user; `stdin` bytes optional (secrets go here, never
    /// into `command`). Counts one round trip. A non-zero exit is *not* an error here: look
    /// at `status`, or pass the output to [`Session::check`].
    pub fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        let raw = self.run_raw(command, stdin)?;
        Ok(Output {
            status: raw.status,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        })
    }

    /// Whether commands need `sudo -n` (the login user is not root).
    pub fn needs_sudo(&self) -> bool {
        self.target().user != "root"
    }

    /// `command` wrapped so that it runs as root.
    fn as_root(&self, command: &str) -> String {
        if self.needs_sudo() {
            sudo_wrap(command)
        } else {
            command.to_string()
        }
    }

    /// Turn sudo's own refusal into [`SshError::SudoPassword`].
    fn sudo_refusal(&self, status: i32, stderr: &[u8]) -> Result<(), SshError> {
        if !self.needs_sudo() || status == 0 {
            return Ok(());
        }
        match sudo_refusal(&String::from_utf8_lossy(stderr)) {
            Some(line) => Err(SshError::SudoPassword {
                host: self.host().to_string(),
                user: self.target().user.clone(),
                detail: line,
            }),
            None => Ok(()),
        }
    }

    fn run_root_raw(&self, command: &str, stdin: Option<&[u8]>) -> Result<super::channel::RawOutput, SshError> {
        let raw = self.run_raw(command, stdin)?;
        self.sudo_refusal(raw.status, &raw.stderr)?;
        Ok(raw)
    }

    /// Like [`Session::exec`] but as root: prefixed with `sudo -n` when the login user is not
    /// root. sudo asking for a password is a clear [`SshError::SudoPassword`].
    pub fn exec_root(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        let raw = self.run_root_raw(&self.as_root(command), stdin)?;
        Ok(Output {
            status: raw.status,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        })
    }

    /// Run a POSIX shell script as root via `sh -s`: the script travels on stdin, so nothing
    /// in it (paths, values, secrets) shows up in a process list.
    pub fn script_root(&self, script: &str) -> Result<Output, SshError> {
        let command = if self.needs_sudo() { "sudo -n -- sh -s" } else { "sh -s" };
        let raw = self.run_root_raw(command, Some(whole_or_nothing(script).as_bytes()))?;
        Ok(Output {
            status: raw.status,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        })
    }

    /// Non-zero exit → an error naming host, step and the tail of stderr.
    pub fn check(&self, step: &str, out: Output) -> anyhow::Result<Output> {
        if out.success() {
            return Ok(out);
        }
        bail!("{}: {step} failed (exit {}): {}", self.host(), out.status, crate::secret::redact(&out.tail(20)))
    }

    /// Atomic upload as root, one round trip: a temp file in the target's directory
    /// (`mktemp`), content via stdin, chown/chmod, optional validation of the temp file, then
    /// `mv -f` over the target. On any failure the temp file is removed and the target is
    /// untouched; a validation failure's error contains the validator's output.
    pub fn upload(&self, spec: &Upload) -> anyhow::Result<()> {
        let script = upload_script(spec, Content::Stdin)?;
        let out = self.exec_root(&script, Some(spec.content))?;
        match out.status {
            0 => Ok(()),
            VALIDATION_FAILED => {
                let said = out.tail(30);
                let said = if said.trim().is_empty() { "(the validator printed nothing)".to_string() } else { said };
                bail!(
                    "{}: {} was not changed: validation (`{}`) rejected the new content:\n{said}",
                    self.host(),
                    spec.path,
                    spec.validate.unwrap_or("")
                )
            }
            n => bail!("{}: uploading {} failed (exit {n}): {}", self.host(), spec.path, out.tail(20)),
        }
    }

    /// Content of a remote file, read as root; `None` if it does not exist.
    pub fn read_file(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let p = quote(path);
        let script = format!("if [ ! -e {p} ] && [ ! -L {p} ]; then exit {ABSENT}; fi; exec cat -- {p}");
        let raw = self.run_root_raw(&self.as_root(&script), None)?;
        match raw.status {
            0 => Ok(Some(raw.stdout)),
            ABSENT => Ok(None),
            n => bail!("{}: reading {path} failed (exit {n}): {}", self.host(), String::from_utf8_lossy(&raw.stderr).trim()),
        }
    }
}

/// `sh -s` runs each command as soon as it has read it: a script cut short by a dropped
/// connection (the tool killed, a link down) would run its first half — or a last line cut in
/// the middle. As one function called on the last line, nothing runs unless all of it arrived
/// (issue 11).
fn whole_or_nothing(script: &str) -> String {
    format!("hiac_script() {{\n{script}\n}}\nhiac_script\n")
}

/// Where an upload script takes the content from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// From the script's stdin ([`Session::upload`]: content streamed, script in argv).
    Stdin,
    /// From a here-document inside the script ([`Upload::script`]: the script travels on
    /// stdin itself, e.g. in a batch).
    Embedded,
}

impl Upload<'_> {
    /// The whole upload as one self-contained POSIX sh script run as root, content embedded
    /// (base64 in a here-document, so nothing of it reaches a process's argv). Same steps and
    /// guarantees as [`Session::upload`]; a validator's refusal exits non-zero with
    /// "PATH was not changed: validation (…) rejected the new content:" and its output on stderr.
    pub fn script(&self) -> anyhow::Result<String> {
        upload_script(self, Content::Embedded)
    }
}

/// The upload as one POSIX sh script (runs as root).
fn upload_script(spec: &Upload, from: Content) -> anyhow::Result<String> {
    if !spec.path.starts_with('/') || spec.path.ends_with('/') {
        bail!("upload target must be an absolute file path, got {:?}", spec.path);
    }
    let (dir, name) = spec.path.rsplit_once('/').context("path has no directory")?;
    let dir = if dir.is_empty() { "/" } else { dir };
    let template = format!("{}/.{name}.hiac.XXXXXX", dir.trim_end_matches('/'));
    // For messages inside double quotes.
    let shown = spec.path.replace(['"', '$', '`', '\\'], "_");
    let mut s = String::new();
    s.push_str("set -e\n");
    s.push_str(&format!("t=$(mktemp {})\n", quote(&template)));
    s.push_str("trap 'rm -f \"$t\"' EXIT\n");
    match from {
        Content::Stdin => s.push_str("cat > \"$t\"\n"),
        Content::Embedded => {
            // The base64 alphabet has no '_': the delimiter cannot occur in the data.
            let b64 = base64::engine::general_purpose::STANDARD.encode(spec.content);
            s.push_str("base64 -d > \"$t\" <<'HIAC_UPLOAD_END'\n");
            for chunk in b64.as_bytes().chunks(76) {
                s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
                s.push('\n');
            }
            s.push_str("HIAC_UPLOAD_END\n");
        }
    }
    // A dropped connection ends stdin early; never install what did not fully arrive.
    let n = spec.content.len();
    s.push_str(&format!(
        "n=$(wc -c < \"$t\")\n[ \"$n\" -eq {n} ] || {{ echo \"received $n of {n} bytes (connection lost?); {shown} not changed\" >&2; exit 1; }}\n"
    ));
    s.push_str(&format!("chown {} \"$t\"\n", quote(&format!("{}:{}", spec.owner, spec.group))));
    s.push_str(&format!("chmod {:o} \"$t\"\n", spec.mode & 0o7777));
    if let Some(v) = spec.validate {
        let cmd = v.replace("{}", "\"$t\"");
        let say = match from {
            Content::Stdin => String::new(),
            Content::Embedded => format!(
                "echo \"{shown} was not changed: validation ({}) rejected the new content:\" >&2; ",
                v.replace(['"', '$', '`', '\\'], "_")
            ),
        };
        s.push_str(&format!(
            "if ! v_out=$( {cmd} 2>&1 ); then {say}printf '%s\\n' \"$v_out\" >&2; exit {VALIDATION_FAILED}; fi\n"
        ));
    }
    s.push_str(&format!("mv -f \"$t\" {}\n", quote(spec.path)));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_script_quotes_and_validates() {
        let s = upload_script(
            &Upload {
                path: "/etc/sudoers.d/home lab",
                content: b"x",
                mode: 0o440,
                owner: "root",
                group: "root",
                validate: Some("visudo -cf {}"),
            },
            Content::Stdin,
        )
        .unwrap();
        assert!(s.contains("mktemp '/etc/sudoers.d/.home lab.hiac.XXXXXX'"), "{s}");
        assert!(s.contains("chmod 440 \"$t\""), "{s}");
        assert!(s.contains("visudo -cf \"$t\""), "{s}");
        assert!(s.contains("mv -f \"$t\" '/etc/sudoers.d/home lab'"), "{s}");
        let relative = Upload { path: "relative", content: b"", mode: 0, owner: "", group: "", validate: None };
        assert!(upload_script(&relative, Content::Stdin).is_err());
        assert!(relative.script().is_err());
    }

    /// The connection can drop while the content is on its way (the tool killed, a link
    /// down): the remote `cat` then sees EOF early. The target must keep its old content —
    /// never a truncated or empty file (issue 11: an empty authorized_keys is a lockout).
    #[test]
    fn upload_script_never_installs_truncated_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("authorized_keys");
        std::fs::write(&target, "old key\n").unwrap();
        let id = |flag: &str| {
            let o = std::process::Command::new("id").arg(flag).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let (user, group) = (id("-un"), id("-gn"));
        let content = b"ssh-ed25519 AAAA new key\n";
        let path = target.to_str().unwrap();
        let script =
            upload_script(&Upload { path, content, mode: 0o600, owner: &user, group: &group, validate: None }, Content::Stdin)
                .unwrap();
        let run = |stdin: &[u8]| {
            use std::io::Write;
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(stdin).unwrap();
            child.wait_with_output().unwrap().status.success()
        };
        for cut in [0, 10, content.len() - 1] {
            assert!(!run(&content[..cut]), "{cut} of {} bytes: the upload reported success", content.len());
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "old key\n", "{cut} bytes received: target replaced");
        }
        assert!(run(content));
        assert_eq!(std::fs::read(&target).unwrap(), content);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "temp files left behind: {left:?}");
    }

    #[test]
    fn a_script_cut_short_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let script = format!("set -e\necho one > '{d}/a'\necho two > '{d}/b'\nexit 3\n");
        let full = whole_or_nothing(&script);
        let run = |stdin: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new("sh")
                .arg("-s")
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            child.wait().unwrap().code()
        };
        // (Only the final newline missing is a whole script: it may run.)
        for cut in 1..full.len() - 1 {
            run(&full[..cut]);
            assert!(!dir.path().join("a").exists(), "a script cut after {cut} of {} bytes ran its start", full.len());
        }
        // Whole: runs as before, exit status included.
        assert_eq!(run(&full), Some(3));
        assert!(dir.path().join("a").exists() && dir.path().join("b").exists());
    }

    /// The embedded form (batches): any bytes arrive intact, mode applies, and a validator's
    /// refusal leaves the target alone and says so on stderr.
    #[test]
    fn embedded_upload_script_writes_exact_bytes_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let id = |flag: &str| {
            let o = std::process::Command::new("id").arg(flag).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let (user, group) = (id("-un"), id("-gn"));
        let content: Vec<u8> = (0..=255u8).cycle().take(1000).chain(b"HIAC_UPLOAD_END\n".iter().copied()).collect();
        let path = target.to_str().unwrap();
        let run = |script: &str| {
            let out = std::process::Command::new("sh").arg("-c").arg(script).stdin(std::process::Stdio::null()).output().unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let up = Upload { path, content: &content, mode: 0o640, owner: &user, group: &group, validate: None };
        assert_eq!(run(&up.script().unwrap()).0, Some(0));
        assert_eq!(std::fs::read(&target).unwrap(), content);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777, 0o640);
        let refused = Upload { content: b"new", validate: Some("grep -q nothing-like-this {}"), ..up };
        let (code, stderr) = run(&refused.script().unwrap());
        assert_eq!(code, Some(VALIDATION_FAILED));
        assert!(stderr.contains("was not changed: validation (grep -q nothing-like-this {}) rejected"), "{stderr}");
        assert_eq!(std::fs::read(&target).unwrap(), content, "a refused upload replaced the file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
    }

    #[test]
    fn tail_prefers_stderr() {
        let o = Output { status: 1, stdout: "a\nb\n".into(), stderr: "x\ny\nz\n".into() };
        assert_eq!(o.tail(2), "y\nz");
        let o = Output { status: 1, stdout: "a\nb\n".into(), stderr: " \n".into() };
        assert_eq!(o.tail(1), "b");
    }
}
