//! SSH sessions on ssh2 (libssh2): verified host keys, one session per host, exec with
//! stdin, `sudo -n`, atomic upload. Secrets travel on stdin, never in a remote argv.

pub mod known_hosts;
