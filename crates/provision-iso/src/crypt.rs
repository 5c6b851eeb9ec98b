//! SHA-512 crypt (`$6$…`) for `root-password-hashed` (auto-install.md §2.2: the installer
//! passes the hash to chpasswd unchanged, so any glibc crypt(3) format works; `$6$` is the
//! one every Debian understands).

use anyhow::{anyhow, Result};
use sha_crypt::{PasswordHasher, PasswordVerifier, ShaCrypt};

/// Hash `password` with a fresh random salt. Output: `$6$rounds=5000$<16 salt chars>$<hash>`.
pub fn sha512_crypt(password: &str) -> Result<String> {
    let mut salt = [0u8; 12]; // 12 bytes → 16 salt characters, the maximum SHA-crypt uses
    getrandom::fill(&mut salt).map_err(|e| anyhow!("no randomness for the password salt: {e}"))?;
    let hash = ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("hashing the root password: {e}"))?;
    Ok(hash.as_str().to_string())
}

/// Does `hash` (any SHA-crypt string, `$5$` or `$6$`) verify against `password`?
pub fn verify(password: &str, hash: &str) -> bool {
    ShaCrypt::SHA512.verify_password(password.as_bytes(), hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_salts_differ() {
        let a = sha512_crypt("correct horse").unwrap();
        let b = sha512_crypt("correct horse").unwrap();
        assert!(a.starts_with("$6$") && a != b);
        assert!(verify("correct horse", &a) && verify("correct horse", &b));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
    }

    /// Known answer from glibc: `crypt("Hello world!", "$6$saltstring")` (the SHA-crypt spec's
    /// test vector), so our hashes are what chpasswd/PAM compute.
    #[test]
    fn glibc_test_vector_verifies() {
        let h = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(verify("Hello world!", h));
        assert!(!verify("Hello world", h));
    }
}
