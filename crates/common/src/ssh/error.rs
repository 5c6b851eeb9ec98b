//! Errors of the SSH layer. Every variant names the host (inventory name) and, where it
//! helps, the address, so a failure in a parallel run is never ambiguous; the message says
//! what to do next.

/// Why talking to a host failed.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{host} ({addr}): connection refused; is sshd running and listening on that port?")]
    Refused { host: String, addr: String },

    #[error(
        "{host} ({addr}): no SSH answer within {secs} s; check the address, the network path and that sshd is running"
    )]
    Timeout { host: String, addr: String, secs: u64 },

    #[error("{host} ({addr}): cannot connect: {reason}")]
    Unreachable { host: String, addr: String, reason: String },

    #[error("authentication as {user} on {host} failed (tried: {tried})")]
    AuthFailed { host: String, user: String, tried: String },

    #[error(
        "{host} ({addr}): HOST KEY CHANGED, refusing to connect.\n  \
         presented: {presented}\n  \
         pinned:    {pinned}\n  \
         pins file: {pins_file}\n\
         If the host was reinstalled, its new key is pinned by the install webhook \
         (`provision-iso serve`), or remove the old line from the pins file after checking the \
         new fingerprint on the host's console (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`). \
         Otherwise treat this as a possible man-in-the-middle."
    )]
    HostKeyChanged { host: String, addr: String, presented: String, pinned: String, pins_file: String },

    #[error(
        "{host} ({addr}): host key {presented} is not pinned in {pins_file}; first contact needs \
         the `accept-new` host-key policy or the install webhook's pins"
    )]
    HostKeyUnknown { host: String, addr: String, presented: String, pins_file: String },

    #[error(
        "{host}: `sudo -n` as {user} was refused ({detail}); {user} needs a NOPASSWD sudoers entry \
         (bootstrap-node / bootstrap-qdevice install one), or connect as root"
    )]
    SudoPassword { host: String, user: String, detail: String },

    #[error("{host}: {step} failed: {detail}")]
    Protocol { host: String, step: String, detail: String },
}

impl SshError {
    /// Shorthand for the catch-all variant.
    pub fn protocol(host: &str, step: &str, detail: impl std::fmt::Display) -> Self {
        SshError::Protocol { host: host.to_string(), step: step.to_string(), detail: detail.to_string() }
    }
}
