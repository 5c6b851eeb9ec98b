//! A real OpenSSH sshd for tests: its own host key, config and authorized_keys in a temp
//! dir, listening on a free loopback port, killed when dropped.
//!
//! Reuse from another crate's tests by path:
//! `#[path = "../../common/tests/support/mod.rs"] mod support;`
//!
//! sshd must run as root (it switches to the logged-in user). Tests call [`require_root`]
//! first: outside CI a non-root run is skipped with a message; under `CI=true` it fails.
#![allow(dead_code)]

use common::inventory::HostKeyPolicy;
use common::ssh::{Auth, SshTarget};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// True when the test may run. Not root: skip (print why) unless `CI=true`, then panic.
pub fn require_root(test: &str) -> bool {
    let root = unsafe { libc_geteuid() } == 0;
    let has_sshd = Path::new(SSHD).exists();
    if root && has_sshd {
        return true;
    }
    let why = if !root { "needs root (sshd switches users)" } else { "needs openssh-server (/usr/sbin/sshd)" };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why}; under CI=true this is a failure, not a skip");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Run a command, panic with its stderr on failure.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Generate an ed25519 key pair at `path` (+ `.pub`), replacing an existing one.
pub fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "hiac-test", "-f"]).arg(path));
}

/// `SHA256:…` fingerprint of a public key file, as `ssh-keygen -lf` prints it.
pub fn fingerprint(pub_path: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(pub_path));
    out.split_whitespace().nth(1).expect("ssh-keygen -lf output").to_string()
}

pub struct TestSshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Private key accepted for root (in the temp authorized_keys).
    pub client_key: PathBuf,
    /// The server's ed25519 host key (private; `.pub` beside it).
    pub host_key: PathBuf,
    /// Extra sshd_config lines (placed first: in sshd the first value of a keyword wins).
    extra_config: String,
    child: Option<Child>,
}

impl TestSshd {
    /// Start sshd with fresh host and client keys. Panics with sshd's log if it won't come up.
    pub fn start() -> TestSshd {
        TestSshd::start_with("")
    }

    /// Like [`TestSshd::start`] with extra sshd_config lines, e.g. `PasswordAuthentication yes`.
    pub fn start_with(extra_config: &str) -> TestSshd {
        let dir = tempfile::tempdir().expect("temp dir");
        let host_key = dir.path().join("ssh_host_ed25519_key");
        let client_key = dir.path().join("id_client");
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(client_key.with_extension("pub"), dir.path().join("authorized_keys")).unwrap();
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").ok();
        let mut sshd =
            TestSshd { dir, port: 0, client_key, host_key, extra_config: extra_config.to_string(), child: None };
        sshd.launch();
        sshd
    }

    fn write_config(&self) -> PathBuf {
        let d = self.dir.path();
        let cfg = d.join("sshd_config");
        let text = format!(
            "{extra}\n\
             ListenAddress 127.0.0.1:{port}\n\
             HostKey {hk}\n\
             AuthorizedKeysFile {ak}\n\
             PidFile {pid}\n\
             StrictModes no\n\
             UsePAM no\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             MaxStartups 100\n\
             LogLevel VERBOSE\n",
            extra = self.extra_config,
            port = self.port,
            hk = self.host_key.display(),
            ak = d.join("authorized_keys").display(),
            pid = d.join("sshd.pid").display(),
        );
        std::fs::write(&cfg, text).unwrap();
        cfg
    }

    /// Pick a free port, start sshd, wait (with a deadline) for its banner. Retries with a new
    /// port when another process grabbed the one we picked.
    fn launch(&mut self) {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            if self.port == 0 {
                self.port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            }
            let cfg = self.write_config();
            let log = std::fs::File::create(self.log_path()).unwrap();
            let child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("starting sshd");
            self.child = Some(child);
            if self.wait_ready(Duration::from_secs(10)) {
                return;
            }
            last_log = self.log();
            self.stop();
            self.port = 0;
        }
        panic!("sshd did not come up; its log:\n{last_log}");
    }

    /// Poll until the server sends its SSH banner, or the child exits, or the deadline passes.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 8];
                if s.read_exact(&mut buf).is_ok() && &buf[..7] == b"SSH-2.0" {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50)); // poll interval, not a fixed wait
        }
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sshd.log")
    }

    /// Stop, give the server a brand-new host key, start again on the same port (a "reinstall").
    pub fn restart_with_new_host_key(&mut self) {
        self.stop();
        keygen(&self.host_key);
        self.launch();
    }

    /// Fingerprint of the current host key.
    pub fn host_fingerprint(&self) -> String {
        fingerprint(&self.host_key.with_extension("pub"))
    }

    /// A pins file path inside the temp dir (not created).
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// Root with the authorized client key, accept-new, pins in the temp dir.
    pub fn target(&self) -> SshTarget {
        let mut t = SshTarget::new("sshd-test", "127.0.0.1", "root", Auth::KeyFile(self.client_key.clone()), self.known_hosts());
        t.port = self.port;
        t.host_key_policy = HostKeyPolicy::AcceptNew;
        t.connect_timeout = Duration::from_secs(10);
        t
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        self.stop();
    }
}
