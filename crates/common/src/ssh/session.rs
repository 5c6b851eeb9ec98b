//! One verified, authenticated SSH connection per host, reused for every step.
//!
//! Connecting: TCP with a timeout → SSH handshake (ed25519 host keys preferred) → host-key
//! check against the pins ([`super::hostkey`]) → authentication. Only then is the session
//! switched to non-blocking mode: every channel is driven by one poll loop
//! ([`super::channel`]) so stdin, stdout and stderr can all flow at once without deadlock.

use super::channel::{self, RawOutput};
use super::error::SshError;
use super::hostkey;
use super::target::{Auth, SshTarget};
use ssh2::{ErrorCode, MethodType};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// libssh2 error codes we tell apart (libssh2.h).
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_FILE: i32 = -16;

/// A live session to one host. `Send + Sync`; meant to be owned by that host's thread.
/// Calls on one session are serialised internally.
pub struct Session {
    target: SshTarget,
    sess: ssh2::Session,
    /// A duplicate of the socket libssh2 owns; only used to poll(2) for readiness.
    socket: TcpStream,
    round_trips: AtomicU32,
    io: Mutex<()>,
    connect_time: Duration,
    new_pin: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("host", &self.target.name).field("addr", &self.target.addr()).finish()
    }
}

/// How long sent data may stay unacknowledged before the kernel drops the connection.
pub(crate) const DEAD_PEER_TIMEOUT_MS: libc::c_uint = 60_000;

/// Keepalives alone do not notice a dead peer: an unacknowledged keepalive is retransmitted
/// for the kernel's full retry budget (about 15 minutes with tcp_retries2 = 15), so a run whose
/// host lost its link mid-command hung that long. TCP_USER_TIMEOUT makes the connection fail
/// once data (a keepalive, every 15 s) stays unacknowledged for a minute; the command then
/// fails with the host named. Best effort: not every platform has the option.
fn set_dead_peer_timeout(socket: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let v = DEAD_PEER_TIMEOUT_MS;
    // SAFETY: setsockopt on a valid socket with a pointer to a c_uint and its size.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&v as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
}

impl Session {
    /// Connect, verify the host key against the pins, authenticate.
    pub fn connect(target: &SshTarget) -> Result<Session, SshError> {
        let started = Instant::now();
        let socket = tcp_connect(target)?;
        let host = target.name.as_str();
        let secs = target.connect_timeout.as_secs().max(1);
        let timeout_ms = u32::try_from(target.connect_timeout.as_millis()).unwrap_or(u32::MAX).max(1);
        let _ = socket.set_read_timeout(Some(target.connect_timeout));
        let _ = socket.set_write_timeout(Some(target.connect_timeout));
        let _ = socket.set_nodelay(true);
        set_dead_peer_timeout(&socket);

        let mut sess = ssh2::Session::new().map_err(|e| SshError::protocol(host, "creating an SSH session", e))?;
        let dup = socket.try_clone().map_err(|e| SshError::protocol(host, "duplicating the socket", e))?;
        sess.set_tcp_stream(dup);
        sess.set_timeout(timeout_ms);
        let supported = sess.supported_algs(MethodType::HostKey).unwrap_or_default();
        let prefs = hostkey::method_preference(&hostkey::pinned_types(target), &supported);
        sess.method_pref(MethodType::HostKey, &prefs)
            .map_err(|e| SshError::protocol(host, "setting host-key preferences", e))?;

        sess.handshake().map_err(|e| match e.code() {
            ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT) => {
                SshError::Timeout { host: host.into(), addr: target.addr(), secs }
            }
            _ if e.message().contains("imed out") => SshError::Timeout { host: host.into(), addr: target.addr(), secs },
            _ => SshError::protocol(host, &format!("SSH handshake with {}", target.addr()), e.message()),
        })?;

        let (blob, key_type) =
            sess.host_key().ok_or_else(|| SshError::protocol(host, "host-key check", "the server sent no host key"))?;
        let new_pin = hostkey::verify(target, key_type, blob)?;

        authenticate(&sess, target)?;

        // From here on every call is non-blocking and driven by our own poll loop.
        sess.set_timeout(0);
        sess.set_blocking(false);
        // Keepalives let a long silent command (`pvecm add`) notice a dead peer.
        sess.set_keepalive(true, 15);
        let connect_time = started.elapsed();
        log::debug!("{host}: connected to {} as {} in {:?}", target.addr(), target.user, connect_time);
        Ok(Session {
            target: target.clone(),
            sess,
            socket,
            round_trips: AtomicU32::new(0),
            io: Mutex::new(()),
            connect_time,
            new_pin,
        })
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Inventory name of the host (for messages).
    pub fn host(&self) -> &str {
        &self.target.name
    }

    /// Remote commands run so far (each exec, script and upload is one).
    pub fn round_trips(&self) -> u32 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Time spent connecting (TCP + handshake + host-key check + authentication).
    pub fn connect_time(&self) -> Duration {
        self.connect_time
    }

    /// Set when this connection pinned the host's key for the first time (accept-new):
    /// `pinned new host key for HOST: TYPE SHA256:…`. Phases put it into their report notes.
    pub fn new_pin(&self) -> Option<&str> {
        self.new_pin.as_deref()
    }

    /// Run one command with optional stdin; bytes in, bytes out. Counts one round trip.
    pub(crate) fn run_raw(&self, command: &str, stdin: Option<&[u8]>) -> Result<RawOutput, SshError> {
        let _guard = self.io.lock().unwrap_or_else(|p| p.into_inner());
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        log::debug!("{}: exec {}", self.target.name, crate::secret::redact(first_line(command)));
        channel::run(&self.sess, &self.socket, command, stdin.unwrap_or(&[]))
            .map_err(|e| SshError::protocol(&self.target.name, &format!("running `{}`", first_line(command)), e))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Best effort: a polite disconnect; the socket closes either way.
        let _ = self.sess.disconnect(None, "bye", None);
    }
}

fn first_line(command: &str) -> &str {
    let line = command.lines().next().unwrap_or("");
    if line.len() > 80 {
        let mut end = 80;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        &line[..end]
    } else {
        line
    }
}

/// TCP connect to the first address that answers, with the target's timeout.
fn tcp_connect(target: &SshTarget) -> Result<TcpStream, SshError> {
    let host = target.name.clone();
    let addr = target.addr();
    let addrs: Vec<SocketAddr> = (target.address.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| SshError::Unreachable { host: host.clone(), addr: addr.clone(), reason: format!("cannot resolve: {e}") })?
        .collect();
    let mut last = None;
    for sa in &addrs {
        match TcpStream::connect_timeout(sa, target.connect_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let e = match last {
        Some(e) => e,
        None => return Err(SshError::Unreachable { host, addr, reason: "the name resolves to no address".into() }),
    };
    Err(match e.kind() {
        std::io::ErrorKind::ConnectionRefused => SshError::Refused { host, addr },
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            SshError::Timeout { host, addr, secs: target.connect_timeout.as_secs().max(1) }
        }
        _ => SshError::Unreachable { host, addr, reason: e.to_string() },
    })
}

/// Answers every keyboard-interactive prompt with the password (PAM's "Password: ").
struct PasswordPrompt<'a>(&'a str);

impl ssh2::KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(&mut self, _user: &str, _instructions: &str, prompts: &[ssh2::Prompt<'b>]) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

/// Authenticate with the target's method. The error says what was tried and what the
/// server offers, never a secret.
fn authenticate(sess: &ssh2::Session, t: &SshTarget) -> Result<(), SshError> {
    let offered = match sess.auth_methods(&t.user) {
        Ok(m) => m.to_string(),
        Err(_) if sess.authenticated() => return Ok(()), // "none" auth accepted
        Err(e) => return Err(SshError::protocol(&t.name, "asking for authentication methods", e.message())),
    };
    let attempt: Result<(), String> = match &t.auth {
        Auth::Agent => {
            if std::env::var_os("SSH_AUTH_SOCK").is_none() {
                Err("agent ($SSH_AUTH_SOCK is not set; start ssh-agent or set automation.identity_file)".into())
            } else {
                sess.userauth_agent(&t.user).map_err(|e| format!("agent ({})", e.message()))
            }
        }
        Auth::KeyFile(path) => match std::fs::metadata(path) {
            Err(e) => Err(format!("key {} (cannot read it: {e})", path.display())),
            Ok(_) => sess.userauth_pubkey_file(&t.user, None, path, None).map_err(|e| match e.code() {
                ErrorCode::Session(LIBSSH2_ERROR_FILE) => {
                    format!("key {} (unreadable or unsupported key format: {})", path.display(), e.message())
                }
                _ => format!("key {} (not accepted)", path.display()),
            }),
        },
        Auth::Password(pw) => {
            if offered.split(',').any(|m| m == "password") {
                sess.userauth_password(&t.user, pw.expose()).map_err(|_| "password (rejected)".to_string())
            } else if offered.split(',').any(|m| m == "keyboard-interactive") {
                sess.userauth_keyboard_interactive(&t.user, &mut PasswordPrompt(pw.expose()))
                    .map_err(|_| "password via keyboard-interactive (rejected)".to_string())
            } else {
                Err("password (the server does not offer password login)".into())
            }
        }
    };
    match attempt {
        Ok(()) if sess.authenticated() => Ok(()),
        Ok(()) => Err(SshError::AuthFailed {
            host: t.name.clone(),
            user: t.user.clone(),
            tried: format!("{}: partial success only; server offers {offered}", t.auth.describe()),
        }),
        Err(tried) => Err(SshError::AuthFailed {
            host: t.name.clone(),
            user: t.user.clone(),
            tried: format!("{tried}; server offers {offered}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    /// Phases move a session into its host's thread and share `&Session` with helpers.
    #[test]
    fn session_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Session>();
    }
}
