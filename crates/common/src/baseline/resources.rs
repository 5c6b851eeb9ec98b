//! The resources that put the baseline on a host, and two generic ones the phases share:
//! [`EditedFile`] (a file whose desired content is an edit of its current content) and
//! [`CompletionMarker`].
//!
//! Order of the access resources matters and is deliberate ([`access`]): the sudoers drop-in is
//! installed *before* `authorized_keys`, so "the automation user can log in" always implies
//! "it can `sudo -n`" — an interrupted run never leaves a login that cannot do its job.

use super::keys::{self, SUDOERS_PATH};
use super::sshd::{parse_sshd_t, SshdHardening, DROPIN_DIR, DROPIN_PATH};
use crate::access::prove_login;
use crate::engine::resources::{Directory, File, Packages, User};
use crate::engine::{Observed, Resource, Status};
use crate::ssh::{quote, Session, SshTarget, Upload};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

/// Where homelab-iac keeps its own state on a host (markers, backups).
pub const STATE_DIR: &str = "/var/lib/homelab-iac";

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path} (current)"), &format!("{path} (desired)"))
        .to_string()
}

/// The access baseline of one host, in apply order: `sudo` installed, the automation user,
/// its sudoers drop-in (`visudo -cf`), `~/.ssh` 0700, `authorized_keys` with exactly `keys`.
pub fn access(user: &str, keys: &[String]) -> Vec<Box<dyn Resource>> {
    let home = format!("/home/{user}");
    vec![
        Box::new(Packages::new(&["sudo"])),
        Box::new(User::new(user)),
        Box::new(File::new(SUDOERS_PATH, keys::sudoers(user), 0o440).validated_by("visudo -cf {}")),
        Box::new(Directory::new(&format!("{home}/.ssh"), 0o700).owned_by(user, user)),
        Box::new(File::new(&format!("{home}/.ssh/authorized_keys"), keys::authorized_keys(keys), 0o600).owned_by(user, user)),
    ]
}

type Edit = Arc<dyn Fn(Option<&str>) -> Option<String> + Send + Sync>;

/// A text file whose desired content is a pure edit of its current content (`None` = the file
/// is absent). The edit returns `None` to mean "leave it absent". Used for files we share with
/// others: `/etc/hosts` (a managed block), APT sources (a stanza switched off),
/// `/etc/default/corosync-qnetd` (one variable), root's `authorized_keys` (our lines only).
#[derive(Clone)]
pub struct EditedFile {
    pub path: String,
    pub edit: Edit,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Validator on the temp file (`{}` = its path), as for [`File`].
    pub validate: Option<String>,
    /// What the edit does, for the summary ("disable enterprise stanzas").
    pub what: String,
}

impl std::fmt::Debug for EditedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditedFile").field("path", &self.path).field("what", &self.what).finish_non_exhaustive()
    }
}

impl EditedFile {
    pub fn new(path: &str, what: &str, edit: impl Fn(Option<&str>) -> Option<String> + Send + Sync + 'static) -> Self {
        EditedFile {
            path: path.to_string(),
            edit: Arc::new(edit),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            validate: None,
            what: what.to_string(),
        }
    }
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn owned_by(mut self, owner: &str, group: &str) -> Self {
        self.owner = owner.into();
        self.group = group.into();
        self
    }

    /// The atomic upload of `content` with this file's mode, owner and validator.
    fn upload_of<'a>(&'a self, content: &'a [u8]) -> Upload<'a> {
        Upload {
            path: &self.path,
            content,
            mode: self.mode,
            owner: &self.owner,
            group: &self.group,
            validate: self.validate.as_deref(),
        }
    }

    /// Parse the probe: `(meta, content)`; `None` content = absent.
    fn parse(observed: &Observed) -> Result<(Option<String>, Option<String>)> {
        let out = &observed.stdout;
        if out.starts_with("absent\n") {
            return Ok((None, None));
        }
        let Some(rest) = out.strip_prefix("meta ") else {
            bail!("unexpected probe output: {}", observed.stderr.trim());
        };
        let (meta, content) = rest.split_once('\n').context("probe output truncated")?;
        Ok((Some(meta.to_string()), Some(content.to_string())))
    }

    /// Desired state vs observed: summary + diff, or in state.
    fn judge(&self, meta: Option<&str>, current: Option<&str>) -> Result<Status> {
        let desired = (self.edit)(current);
        let Some(desired) = desired else {
            return Ok(Status::InState); // absent and meant to stay so
        };
        let mut parts = Vec::new();
        let mut diff = None;
        match current {
            None => {
                parts.push(format!("create ({})", self.what));
                diff = Some(unified_diff(&self.path, "", &desired));
            }
            Some(c) if c != desired => {
                parts.push(self.what.clone());
                diff = Some(unified_diff(&self.path, c, &desired));
            }
            Some(_) => {}
        }
        if let Some(m) = meta {
            let mut it = m.split_whitespace();
            let (mode, o, g) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
            let mode = u32::from_str_radix(mode, 8).unwrap_or(u32::MAX);
            if mode & 0o7777 != self.mode {
                parts.push(format!("mode {:04o} → {:04o}", mode & 0o7777, self.mode));
            }
            if o != self.owner || g != self.group {
                parts.push(format!("owner {o}:{g} → {}:{}", self.owner, self.group));
            }
        }
        Ok(if parts.is_empty() { Status::InState } else { Status::change_with_diff(parts.join(", "), diff) })
    }
}

impl Resource for EditedFile {
    fn id(&self) -> String {
        format!("file {}", self.path)
    }

    /// The mode and owner come from the batch's prefetch when it has them (one `stat` for
    /// every path, [`crate::engine::observe::prefetch_stat`]).
    fn probe(&self) -> String {
        format!(
            "{prefetch}p={p}\n\
             if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then\n{lookup}\
             [ -n \"$meta\" ] || meta=$(stat -c '%a %U %G %s' -- \"$p\")\n\
             echo \"meta ${{meta% *}}\"; cat -- \"$p\"\n\
             elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo 'not a regular file' >&2; exit 3\n\
             else echo absent; fi\n",
            prefetch = crate::engine::observe::prefetch_stat(&self.path),
            p = quote(&self.path),
            lookup = crate::engine::observe::LOOKUP_META,
        )
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        if observed.status == 3 {
            bail!("{} exists but is not a regular file; fix it by hand", self.path);
        }
        let (meta, content) = Self::parse(observed)?;
        self.judge(meta.as_deref(), content.as_deref())
    }

    /// The edit of what this run observed, installed only if the file is still what was
    /// observed (same sha256, or still absent). Otherwise — an earlier change of this run, a
    /// package install, created or changed it — the script reports itself stale and the
    /// engine runs [`EditedFile::apply`], which edits what is there now. Content that is not
    /// UTF-8 (the probe's text lost bytes) goes to `apply` directly, which says so.
    fn apply_script(&self, observed: &Observed) -> Option<Result<String>> {
        let (_, current) = match Self::parse(observed) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        if current.as_deref().is_some_and(|c| c.contains('\u{FFFD}')) {
            return None;
        }
        let Some(desired) = (self.edit)(current.as_deref()) else { return Some(Ok("true\n".into())) };
        let p = quote(&self.path);
        let stale = format!("{{ echo {}; exit {}; }}", quote(crate::engine::STALE_LINE), crate::engine::STALE);
        let guard = match &current {
            None => format!("if [ -e {p} ] || [ -L {p} ]; then {stale}; fi\n"),
            Some(c) => format!(
                "h=$(sha256sum < {p}) || exit 1\nif [ \"${{h%% *}}\" != {want} ]; then {stale}; fi\n",
                want = sha256_hex(c.as_bytes())
            ),
        };
        Some(self.upload_of(desired.as_bytes()).script().map(|u| format!("{guard}{u}")))
    }

    /// Re-read, edit, upload: the edit always applies to what is there *now*.
    fn apply(&self, session: &Session) -> Result<()> {
        let current = session.read_file(&self.path)?;
        let current = match current {
            Some(b) => Some(String::from_utf8(b).with_context(|| format!("{} is not UTF-8 text", self.path))?),
            None => None,
        };
        let Some(desired) = (self.edit)(current.as_deref()) else { return Ok(()) };
        session.upload(&self.upload_of(desired.as_bytes()))
    }
}

/// A completion marker: `tool=`, `version=` and `changed=` (UTC time of the last run that
/// changed something on the host, or of the first completion). In state when tool and version
/// match, so a converged re-run changes nothing; it is rewritten (new time) when notified by
/// any other resource of the run, or when told that changes were made on another session
/// ([`CompletionMarker::after_changes`]).
#[derive(Debug, Clone)]
pub struct CompletionMarker {
    pub path: String,
    pub tool: String,
    pub version: String,
    pub notified_by: Vec<String>,
    /// Set: rewrite once even if in state (cleared by a successful write, so the engine's
    /// verification then sees it in state).
    pub pending_rewrite: Arc<std::sync::atomic::AtomicBool>,
}

impl CompletionMarker {
    /// `/var/lib/homelab-iac/<tool>.done`, rewritten when any of `others` changed.
    pub fn new(tool: &str, others: &[Box<dyn Resource>]) -> Self {
        CompletionMarker {
            path: format!("{STATE_DIR}/{tool}.done"),
            tool: tool.to_string(),
            version: crate::VERSION.to_string(),
            notified_by: others.iter().map(|r| r.id()).collect(),
            pending_rewrite: Arc::default(),
        }
    }

    /// Changes were made earlier in this run on another session (the first-contact stage):
    /// record them even if the marker is otherwise in state.
    pub fn after_changes(self, changed: bool) -> Self {
        self.pending_rewrite.store(changed, std::sync::atomic::Ordering::SeqCst);
        self
    }

    fn script(&self) -> String {
        format!(
            "set -e\nmkdir -p {dir}\nt=$(mktemp {dir}/.marker.XXXXXX)\n\
             printf '# homelab-iac: %s completed on this host; re-running it is safe.\\ntool=%s\\nversion=%s\\nchanged=%s\\n' \
             {tool} {tool} {version} \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > \"$t\"\nchmod 0644 \"$t\"\nmv -f \"$t\" {path}\n",
            dir = quote(STATE_DIR),
            tool = quote(&self.tool),
            version = quote(&self.version),
            path = quote(&self.path),
        )
    }

    /// Does marker text belong to this tool and version?
    pub fn matches(&self, text: &str) -> bool {
        let val = |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
        val("tool") == Some(&self.tool) && val("version") == Some(&self.version)
    }
}

impl Resource for CompletionMarker {
    fn id(&self) -> String {
        format!("marker {}", self.path)
    }
    fn probe(&self) -> String {
        format!("cat -- {} 2>/dev/null || echo absent\n", quote(&self.path))
    }
    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        if self.matches(&observed.stdout) {
            if self.pending_rewrite.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(Status::change("record the changes of this run"));
            }
            return Ok(Status::InState);
        }
        let old = observed.stdout.lines().find_map(|l| l.strip_prefix("version=")).unwrap_or("none");
        Ok(Status::change(format!("record completion (version {old} → {})", self.version)))
    }
    fn apply(&self, session: &Session) -> Result<()> {
        let out = session.script_root(&self.script())?;
        session.check(&format!("writing {}", self.path), out).map(drop)
    }
    fn apply_script(&self, _observed: &Observed) -> Option<Result<String>> {
        Some(Ok(self.script()))
    }
    /// Written: the engine's verification must now see it in state.
    fn after_apply(&self) {
        self.pending_rewrite.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    fn notified_by(&self) -> Vec<String> {
        self.notified_by.clone()
    }
}

/// The sshd hardening drop-in, installed only when it is safe:
///
/// 1. a fresh key login of the automation user (`prove_as`) works *before* anything changes;
/// 2. the candidate is validated with `sshd -t` **in place**: a temporary copy of
///    `sshd_config` whose `Include` points at a temporary copy of `sshd_config.d` holding the
///    candidate, and `sshd -T` on it must report our settings (nothing earlier overrides them);
/// 3. the previous drop-in is kept, the new one renamed into place, the real config checked
///    again with `sshd -t`, sshd reloaded;
/// 4. a fresh login is proven again; if that fails, the previous drop-in is restored and sshd
///    reloaded (rollback), and the step fails.
///
/// A state file records the content proven to work, so a run killed between (3) and (4) is
/// finished (re-proven) by the next run instead of being mistaken for "in state".
#[derive(Debug, Clone)]
pub struct SshdDropIn {
    pub hardening: SshdHardening,
    /// The login to prove before and after (the automation user). `None` skips the proofs:
    /// only for callers that prove access themselves.
    pub prove_as: Option<SshTarget>,
    /// How long to wait for sshd to accept a login after the reload.
    pub patience: Duration,
}

/// Recorded after a proven reload: the sha256 of the drop-in that is known to work.
pub const SSHD_PROVEN: &str = "/var/lib/homelab-iac/sshd-dropin.proven";
/// The previous drop-in while a change is in flight (absent when there was none).
pub const SSHD_PREVIOUS: &str = "/var/lib/homelab-iac/sshd-dropin.previous";

// Exit codes of the install script.
const E_NO_INCLUDE: i32 = 3;
const E_INVALID: i32 = 4;
const E_NOT_EFFECTIVE: i32 = 5;
const E_RELOAD: i32 = 6;

impl SshdDropIn {
    pub fn new(hardening: SshdHardening, prove_as: Option<SshTarget>) -> Self {
        SshdDropIn { hardening, prove_as, patience: Duration::from_secs(15) }
    }

    fn content(&self) -> String {
        self.hardening.render()
    }

    /// Shell test that `sshd -T` output in file `$1` has all our settings.
    fn effective_checks(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.hardening.settings() {
            let key = k.to_ascii_lowercase();
            let alts: Vec<String> = if k == "PermitRootLogin" {
                self.hardening.permit_root_login.effective_spellings().iter().map(|x| x.to_string()).collect()
            } else {
                vec![v.to_ascii_lowercase()]
            };
            let pattern = alts.iter().map(|a| format!("{key} {a}")).collect::<Vec<_>>().join("|");
            s.push_str(&format!(
                "grep -qixE {} \"$eff\" || {{ echo \"not effective: $(grep -i '^{key} ' \"$eff\" || echo '{key} <absent>'), want {v}\" >&2; bad=1; }}\n",
                quote(&format!("({pattern})"))
            ));
        }
        s
    }

    /// Validate + install + reload, one round trip (runs as root).
    fn install_script(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.content());
        format!(
            r#"set -u
umask 022
drop={drop}; dir={dir}
d=$(mktemp -d /etc/ssh/.homelab-iac-check.XXXXXX) || exit 1
trap 'rm -rf "$d"' EXIT
mkdir "$d/conf.d"
for f in "$dir"/*.conf; do
  [ -e "$f" ] || continue
  [ "$f" = "$drop" ] && continue
  cp -p "$f" "$d/conf.d/"
done
printf '%s' {b64} | base64 -d > "$d/conf.d/${{drop##*/}}"
sed -E "s#^([[:space:]]*[Ii]nclude[[:space:]]+)$dir/\*\.conf#\1$d/conf.d/*.conf#" /etc/ssh/sshd_config > "$d/sshd_config"
if ! grep -q "$d/conf.d" "$d/sshd_config"; then
  echo "/etc/ssh/sshd_config has no 'Include $dir/*.conf' line: a drop-in would have no effect; add the line (Debian's default has it at the top)" >&2
  exit {E_NO_INCLUDE}
fi
if ! out=$(sshd -t -f "$d/sshd_config" 2>&1); then
  echo "sshd -t rejected the new drop-in (nothing was installed):" >&2; printf '%s\n' "$out" >&2
  exit {E_INVALID}
fi
eff="$d/effective"
if ! sshd -T -f "$d/sshd_config" > "$eff" 2>&1; then
  echo "sshd -T failed on the candidate (nothing was installed):" >&2; cat "$eff" >&2
  exit {E_INVALID}
fi
bad=0
{checks}if [ "$bad" = 1 ]; then
  echo "a setting earlier in /etc/ssh/sshd_config (above its Include line) overrides the drop-in; nothing was installed" >&2
  exit {E_NOT_EFFECTIVE}
fi
mkdir -p {state}
if [ -f "$drop" ]; then cp -p "$drop" {prev}; else rm -f {prev}; fi
install -m 0644 -o root -g root "$d/conf.d/${{drop##*/}}" "$dir/.${{drop##*/}}.new"
mv -f "$dir/.${{drop##*/}}.new" "$drop"
restore() {{
  if [ -f {prev} ]; then mv -f {prev} "$drop"; else rm -f "$drop"; fi
}}
if ! out=$(sshd -t 2>&1); then
  restore
  echo "sshd -t failed on the installed configuration; previous drop-in restored:" >&2; printf '%s\n' "$out" >&2
  exit {E_INVALID}
fi
if ! out=$( (systemctl reload ssh || service ssh reload) 2>&1); then
  restore
  echo "reloading sshd failed; previous drop-in restored:" >&2; printf '%s\n' "$out" >&2
  exit {E_RELOAD}
fi
echo installed
"#,
            drop = quote(DROPIN_PATH),
            dir = quote(DROPIN_DIR),
            b64 = quote(&b64),
            checks = self.effective_checks(),
            state = quote(STATE_DIR),
            prev = quote(SSHD_PREVIOUS),
        )
    }

    fn rollback_script() -> String {
        format!(
            "set -u\ndrop={drop}\nif [ -f {prev} ]; then mv -f {prev} \"$drop\"; else rm -f \"$drop\"; fi\n\
             sshd -t && (systemctl reload ssh || service ssh reload)\n",
            drop = quote(DROPIN_PATH),
            prev = quote(SSHD_PREVIOUS)
        )
    }

    fn proven_script(&self) -> String {
        format!(
            "set -e\nmkdir -p {state}\nprintf '%s\\n' {hash} > {proven}\nrm -f {prev}\n",
            state = quote(STATE_DIR),
            hash = sha256_hex(self.content().as_bytes()),
            proven = quote(SSHD_PROVEN),
            prev = quote(SSHD_PREVIOUS)
        )
    }
}

/// Parsed probe of the drop-in.
struct DropInState {
    content: Option<String>,
    meta: Option<String>,
    proven: Option<String>,
    effective: std::collections::BTreeMap<String, String>,
    sshd_t_ok: bool,
}

fn parse_dropin_probe(out: &str) -> DropInState {
    let mut st = DropInState { content: None, meta: None, proven: None, effective: Default::default(), sshd_t_ok: false };
    // Sections: "@@ name" lines (the drop-in content is printed last but one, sshd -T last).
    let mut section = "";
    let mut buf: Vec<(&str, String)> = Vec::new();
    for line in out.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("@@hiac ") {
            section = name.trim_end();
            buf.push((section, String::new()));
            continue;
        }
        if let Some((_, b)) = buf.last_mut() {
            b.push_str(line);
        }
    }
    let _ = section;
    for (name, body) in buf {
        match name {
            "meta" => st.meta = Some(body.trim().to_string()),
            "content" => st.content = Some(body),
            "proven" => st.proven = Some(body.trim().to_string()),
            "sshd-T ok" => {
                st.sshd_t_ok = true;
                st.effective = parse_sshd_t(&body);
            }
            "sshd-T failed" => st.effective = parse_sshd_t(""),
            _ => {}
        }
    }
    st
}

impl Resource for SshdDropIn {
    fn id(&self) -> String {
        format!("sshd {DROPIN_PATH}")
    }

    fn probe(&self) -> String {
        format!(
            "p={drop}\nif [ -f \"$p\" ]; then echo '@@hiac meta'; stat -c '%a %U %G' -- \"$p\"; echo '@@hiac content'; cat -- \"$p\"; fi\n\
             if [ -f {proven} ]; then echo '@@hiac proven'; cat {proven}; fi\n\
             if t=$(sshd -T 2>&1); then echo '@@hiac sshd-T ok'; else echo '@@hiac sshd-T failed'; fi\n\
             printf '%s\\n' \"$t\"\n",
            drop = quote(DROPIN_PATH),
            proven = quote(SSHD_PROVEN)
        )
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let st = parse_dropin_probe(&observed.stdout);
        let want = self.content();
        let mut parts = Vec::new();
        let mut diff = None;
        match &st.content {
            None => {
                parts.push("install".to_string());
                diff = Some(unified_diff(DROPIN_PATH, "", &want));
            }
            Some(c) if *c != want => {
                parts.push("content differs".to_string());
                diff = Some(unified_diff(DROPIN_PATH, c, &want));
            }
            Some(_) => {
                if st.meta.as_deref() != Some("644 root root") {
                    parts.push(format!("mode/owner {} → 644 root root", st.meta.as_deref().unwrap_or("?")));
                }
                if st.proven.as_deref() != Some(sha256_hex(want.as_bytes()).as_str()) {
                    parts.push("installed but not yet proven after a reload (an earlier run was interrupted)".to_string());
                } else if !st.sshd_t_ok {
                    bail!("`sshd -T` fails on this host: the sshd configuration is invalid; fix it before anything else");
                } else {
                    let mism = self.hardening.effective_mismatches(&st.effective);
                    if !mism.is_empty() {
                        bail!(
                            "the drop-in is installed but sshd does not use it ({}); a line above the Include in /etc/ssh/sshd_config overrides it",
                            mism.join("; ")
                        );
                    }
                }
            }
        }
        Ok(if parts.is_empty() { Status::InState } else { Status::change_with_diff(parts.join(", "), diff) })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let host = session.host().to_string();
        if let Some(t) = &self.prove_as {
            prove_login(t, Duration::from_secs(5)).with_context(|| {
                format!("{host}: not changing sshd: the automation login must work before password login is disabled")
            })?;
        }
        let out = session.script_root(&self.install_script())?;
        match out.status {
            0 => {}
            E_NO_INCLUDE | E_INVALID | E_NOT_EFFECTIVE | E_RELOAD => bail!("{host}: sshd drop-in not applied: {}", out.tail(30)),
            n => bail!("{host}: installing the sshd drop-in failed (exit {n}): {}", out.tail(20)),
        }
        if let Some(t) = &self.prove_as {
            if let Err(e) = prove_login(t, self.patience) {
                let rb = session.script_root(&Self::rollback_script());
                let rb = match rb {
                    Ok(o) if o.success() => "the previous drop-in was restored and sshd reloaded".to_string(),
                    Ok(o) => format!("ROLLBACK FAILED (exit {}): {}", o.status, o.tail(10)),
                    Err(e2) => format!("ROLLBACK FAILED: {e2}"),
                };
                bail!("{host}: after reloading sshd, {e:#}; {rb}");
            }
        }
        let out = session.script_root(&self.proven_script())?;
        session.check("recording the proven sshd drop-in", out).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::super::sshd::PermitRootLogin;
    use super::*;

    fn run_sh(script: &str) -> Observed {
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        Observed {
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
            status: out.status.code().unwrap_or(-1),
        }
    }

    #[test]
    fn edited_file_judges_content_mode_and_absence() {
        let f = EditedFile::new("/etc/x", "set block", |c| Some(format!("{}B\n", c.unwrap_or(""))));
        match f.judge(Some("644 root root"), Some("A\n")).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "set block");
                assert!(diff.unwrap().contains("+B"));
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(f.judge(None, None).unwrap(), Status::change_with_diff("create (set block)", Some(unified_diff("/etc/x", "", "B\n"))));
        let same = EditedFile::new("/etc/x", "noop", |c| c.map(str::to_string));
        assert_eq!(same.judge(Some("644 root root"), Some("A\n")).unwrap(), Status::InState);
        assert_eq!(same.judge(None, None).unwrap(), Status::InState, "absent and meant to stay absent");
        assert_eq!(
            same.judge(Some("600 root adm"), Some("A\n")).unwrap(),
            Status::change("mode 0600 → 0644, owner root:adm → root:root")
        );
    }

    #[test]
    fn edited_file_probe_runs_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "line\n").unwrap();
        let f = EditedFile::new(p.to_str().unwrap(), "x", |c| c.map(str::to_string));
        let o = run_sh(&f.probe());
        let (meta, content) = EditedFile::parse(&o).unwrap();
        assert!(meta.unwrap().split_whitespace().count() == 3);
        assert_eq!(content.as_deref(), Some("line\n"));
        let g = EditedFile::new(dir.path().join("none").to_str().unwrap(), "x", |c| c.map(str::to_string));
        assert_eq!(EditedFile::parse(&run_sh(&g.probe())).unwrap(), (None, None));
        let d = EditedFile::new(dir.path().to_str().unwrap(), "x", |c| c.map(str::to_string));
        assert!(d.evaluate(&run_sh(&d.probe())).unwrap_err().to_string().contains("not a regular file"));
    }

    #[test]
    fn marker_matches_tool_and_version_only() {
        let m = CompletionMarker { path: "/x".into(), tool: "bootstrap-node".into(), version: "0.1.0".into(), notified_by: vec![], pending_rewrite: Arc::default() };
        assert!(m.matches("# c\ntool=bootstrap-node\nversion=0.1.0\nchanged=2026-01-01T00:00:00Z\n"));
        assert!(!m.matches("tool=bootstrap-node\nversion=0.0.9\n"));
        assert!(!m.matches("absent\n"));
        assert_eq!(m.evaluate(&Observed::new("absent\n", 0)).unwrap(), Status::change("record completion (version none → 0.1.0)"));
        let m = m.after_changes(true);
        let o = Observed::new("tool=bootstrap-node\nversion=0.1.0\n", 0);
        assert_eq!(m.evaluate(&o).unwrap(), Status::change("record the changes of this run"));
    }

    #[test]
    fn marker_script_writes_a_parseable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.done");
        let m = CompletionMarker { path: path.to_str().unwrap().into(), tool: "t".into(), version: "1".into(), notified_by: vec![], pending_rewrite: Arc::default() };
        // Run the apply script locally with STATE_DIR swapped for the temp dir.
        let script = format!(
            "set -e\nt=$(mktemp {d}/.marker.XXXXXX)\nprintf '# homelab-iac: %s completed on this host; re-running it is safe.\\ntool=%s\\nversion=%s\\nchanged=%s\\n' t t 1 \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > \"$t\"\nmv -f \"$t\" {p}\n",
            d = dir.path().display(),
            p = path.display()
        );
        assert_eq!(run_sh(&script).status, 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(m.matches(&text), "{text}");
        assert_eq!(m.evaluate(&run_sh(&m.probe())).unwrap(), Status::InState);
    }

    fn dropin_probe_output(content: Option<&str>, proven: Option<&str>, sshd_t: &str) -> Observed {
        let mut s = String::new();
        if let Some(c) = content {
            s.push_str("@@hiac meta\n644 root root\n@@hiac content\n");
            s.push_str(c);
        }
        if let Some(p) = proven {
            s.push_str(&format!("@@hiac proven\n{p}\n"));
        }
        s.push_str("@@hiac sshd-T ok\n");
        s.push_str(sshd_t);
        Observed::new(&s, 0)
    }

    const EFFECTIVE: &str = "port 22\nmaxauthtries 3\npubkeyauthentication yes\npasswordauthentication no\n\
        kbdinteractiveauthentication no\npermitrootlogin without-password\n";

    #[test]
    fn dropin_in_state_only_when_content_proven_and_effective() {
        let r = SshdDropIn::new(SshdHardening::new(PermitRootLogin::ProhibitPassword, 3, "t"), None);
        let c = r.content();
        let h = sha256_hex(c.as_bytes());
        assert_eq!(r.evaluate(&dropin_probe_output(Some(&c), Some(&h), EFFECTIVE)).unwrap(), Status::InState);
        // not proven yet → change (finish the interrupted run)
        match r.evaluate(&dropin_probe_output(Some(&c), None, EFFECTIVE)).unwrap() {
            Status::Change { summary, .. } => assert!(summary.contains("not yet proven"), "{summary}"),
            s => panic!("{s:?}"),
        }
        // edited by hand → change with a diff
        let edited = c.replace("MaxAuthTries 3", "MaxAuthTries 6");
        match r.evaluate(&dropin_probe_output(Some(&edited), Some(&h), EFFECTIVE)).unwrap() {
            Status::Change { summary, diff } => {
                assert_eq!(summary, "content differs");
                let d = diff.unwrap();
                assert!(d.contains("-MaxAuthTries 6") && d.contains("+MaxAuthTries 3"), "{d}");
            }
            s => panic!("{s:?}"),
        }
        // absent → install
        match r.evaluate(&dropin_probe_output(None, None, EFFECTIVE)).unwrap() {
            Status::Change { summary, .. } => assert_eq!(summary, "install"),
            s => panic!("{s:?}"),
        }
        // installed and proven but overridden → a clear error, not a loop of changes
        let overridden = EFFECTIVE.replace("passwordauthentication no", "passwordauthentication yes");
        let e = r.evaluate(&dropin_probe_output(Some(&c), Some(&h), &overridden)).unwrap_err().to_string();
        assert!(e.contains("passwordauthentication is yes, want no"), "{e}");
    }

    #[test]
    fn dropin_probe_parses_in_sh() {
        // The probe itself must be valid sh even where sshd is absent or the file missing.
        let r = SshdDropIn::new(SshdHardening::new(PermitRootLogin::No, 3, "t"), None);
        let o = run_sh(&r.probe());
        assert_eq!(o.status, 0, "{}", o.stderr);
        assert!(o.stdout.contains("@@hiac sshd-T"), "{}", o.stdout);
    }

    #[test]
    fn install_script_is_valid_sh_and_checks_every_setting() {
        let r = SshdDropIn::new(SshdHardening::new(PermitRootLogin::ProhibitPassword, 3, "t"), None);
        let s = r.install_script();
        let out = std::process::Command::new("sh").arg("-n").arg("-c").arg(&s).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(s.contains("(permitrootlogin prohibit-password|permitrootlogin without-password)"), "{s}");
        assert!(s.contains("(maxauthtries 3)"));
        for sc in [SshdDropIn::rollback_script(), r.proven_script()] {
            let out = std::process::Command::new("sh").arg("-n").arg("-c").arg(&sc).output().unwrap();
            assert!(out.status.success());
        }
    }

    #[test]
    fn effective_checks_work_on_real_sshd_t_layout() {
        let dir = tempfile::tempdir().unwrap();
        let eff = dir.path().join("eff");
        std::fs::write(&eff, EFFECTIVE).unwrap();
        let r = SshdDropIn::new(SshdHardening::new(PermitRootLogin::ProhibitPassword, 3, "t"), None);
        let script = format!("eff={}\nbad=0\n{}echo bad=$bad\n", eff.display(), r.effective_checks());
        assert_eq!(run_sh(&script).stdout, "bad=0\n");
        let r = SshdDropIn::new(SshdHardening::new(PermitRootLogin::No, 3, "t"), None);
        let script = format!("eff={}\nbad=0\n{}echo bad=$bad\n", eff.display(), r.effective_checks());
        let o = run_sh(&script);
        assert_eq!(o.stdout, "bad=1\n");
        assert!(o.stderr.contains("not effective: permitrootlogin without-password, want no"), "{}", o.stderr);
    }

    #[test]
    fn access_resources_put_sudoers_before_keys() {
        let ids: Vec<String> = access("homelab", &["ssh-ed25519 AAAA k".into()]).iter().map(|r| r.id()).collect();
        let pos = |needle: &str| ids.iter().position(|i| i.contains(needle)).unwrap();
        assert!(pos("sudoers") < pos("authorized_keys"), "{ids:?}");
        assert!(pos("packages sudo") < pos("sudoers"));
    }
}
