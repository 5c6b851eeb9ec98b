//! Shape of secret references (`{ env = "VAR" }` / `{ file = "path" }`) and of first-contact
//! settings. Whether a secret is actually *set* is a phase's need, checked separately by
//! [`crate::inventory::needs`] — validation of the file must not depend on the environment.

use super::Ctx;
use crate::inventory::names;
use crate::inventory::{FirstContact, FirstContactMethod, SecretRef};

pub(super) fn secret_ref(cx: &mut Ctx, path: &str, r: &SecretRef) {
    match (&r.env, &r.file) {
        (Some(_), Some(_)) => cx.err(
            path,
            "a secret names exactly one source; keep either `env = \"VAR\"` or `file = \"path\"`, not both",
        ),
        (None, None) => cx.err(
            path,
            "a secret needs a source: write `{ env = \"VAR\" }` (environment variable) or `{ file = \"path\" }` — never the value itself",
        ),
        (Some(var), None) => {
            if let Err(e) = names::check_env_name(var) {
                cx.err(&format!("{path}.env"), format!("environment variable name {e}"));
            }
        }
        (None, Some(f)) => {
            let s = f.to_string_lossy();
            if s.trim().is_empty() {
                cx.err(&format!("{path}.file"), "the secret file path is empty; give a path (relative paths are beside the inventory)");
            } else if s.starts_with('~') {
                cx.err(
                    &format!("{path}.file"),
                    "`~` is not expanded in secret file paths; write the absolute path or a path relative to the inventory file",
                );
            }
        }
    }
}

/// First contact of a host (`nodes[i].first_contact`, `qdevice.first_contact`).
pub(super) fn first_contact(cx: &mut Ctx, path: &str, fc: &FirstContact, who: &str) {
    if let Some(u) = &fc.user {
        if let Err(e) = names::check_linux_user(u) {
            cx.err(&format!("{path}.user"), format!("{who} first_contact.user {e}"));
        }
    }
    match (fc.method, &fc.password) {
        (FirstContactMethod::Password, None) => cx.err(
            &format!("{path}.method"),
            format!("{who}: first_contact.method = \"password\" needs first_contact.password; add password = {{ env = \"VAR\" }} naming where the password comes from"),
        ),
        (FirstContactMethod::Key, Some(_)) => cx.err(
            &format!("{path}.password"),
            format!("{who}: first_contact.password is only used with method = \"password\"; set method = \"password\" or remove the password"),
        ),
        (_, Some(r)) => secret_ref(cx, &format!("{path}.password"), r),
        _ => {}
    }
}
