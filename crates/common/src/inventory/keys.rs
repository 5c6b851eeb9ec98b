//! Automation public keys: literal OpenSSH lines and `github:USER` sources.
