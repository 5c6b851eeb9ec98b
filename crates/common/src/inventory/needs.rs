//! A phase's needs from the environment, checked before any host is touched.
//!
//! The inventory only *names* secrets. Whether `PI_ROOT_PASSWORD` is exported or the
//! token file exists depends on the shell the phase runs in, so it is not part of inventory
//! validation; each phase declares the [`SecretNeed`]s it has, and [`check_secrets`] reports
//! every unmet one at the place in the file that names the secret (or that should name it).
//! Values are read only to see that they are non-empty, and never printed.

use super::{FirstContactMethod, InventoryError, LoadedInventory, SecretRef};

/// A secret a phase needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretNeed {
    /// `install.root_password` (provision-iso: hashed into the answer files). Required:
    /// an inventory without it is an error for this phase.
    InstallRootPassword,
    /// `install.token` (provision-iso: answer server / webhook bearer token). Required.
    InstallToken,
    /// `qdevice.first_contact.password`, when the QDevice's first contact is by password
    /// (bootstrap-qdevice). Nothing is needed without a QDevice or with key first contact.
    QDeviceFirstContact,
    /// `nodes[*].first_contact.password` of every (selected) node whose first contact is by
    /// password (bootstrap-node).
    NodeFirstContact,
}

/// Check `needs` for every host; see [`check_secrets_for`].
pub fn check_secrets(loaded: &LoadedInventory, needs: &[SecretNeed]) -> Vec<InventoryError> {
    check_secrets_for(loaded, needs, &|_| true)
}

/// Check `needs`, limited to the hosts `selects` accepts (the `--node` selection).
/// Errors are located at the secret reference in the inventory and ordered by line.
pub fn check_secrets_for(loaded: &LoadedInventory, needs: &[SecretNeed], selects: &dyn Fn(&str) -> bool) -> Vec<InventoryError> {
    let inv = &loaded.inv;
    let mut errors = Vec::new();
    for need in needs {
        match need {
            SecretNeed::InstallRootPassword => match &inv.install.root_password {
                Some(r) => check_ref(loaded, "install.root_password", r, "the nodes' root password (hashed into the answer files)", &mut errors),
                None => errors.push(loaded.error_at(
                    "install",
                    "provision-iso needs the nodes' root password: add `root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }` under [install]",
                )),
            },
            SecretNeed::InstallToken => match &inv.install.token {
                Some(r) => check_ref(loaded, "install.token", r, "the answer server's token", &mut errors),
                None => errors.push(loaded.error_at(
                    "install",
                    "the answer server needs a shared token: add `token = { env = \"HOMELAB_ANSWER_TOKEN\" }` (or `{ file = \"…\" }`) under [install]",
                )),
            },
            SecretNeed::QDeviceFirstContact => {
                let Some(q) = &inv.qdevice else { continue };
                if q.first_contact.method == FirstContactMethod::Password && selects(&q.name) {
                    let purpose = format!("the password for first contact with {}", q.name);
                    match &q.first_contact.password {
                        Some(r) => check_ref(loaded, "qdevice.first_contact.password", r, &purpose, &mut errors),
                        None => errors.push(missing_password(loaded, "qdevice.first_contact", &q.name)),
                    }
                }
            }
            SecretNeed::NodeFirstContact => {
                for (i, n) in inv.nodes.iter().enumerate() {
                    if n.first_contact.method != FirstContactMethod::Password || !selects(&n.name) {
                        continue;
                    }
                    let purpose = format!("the password for first contact with {}", n.name);
                    let path = format!("nodes[{i}].first_contact");
                    match &n.first_contact.password {
                        Some(r) => check_ref(loaded, &format!("{path}.password"), r, &purpose, &mut errors),
                        None => errors.push(missing_password(loaded, &path, &n.name)),
                    }
                }
            }
        }
    }
    errors.sort_by_key(|e| (e.line, e.col));
    errors.dedup();
    errors
}

fn missing_password(loaded: &LoadedInventory, path: &str, host: &str) -> InventoryError {
    loaded.error_at(
        path,
        format!("first contact with {host} is by password, but no password source is named; add `password = {{ env = \"VAR\" }}` here"),
    )
}

/// Is the secret behind `r` available and non-empty? Resolution mirrors
/// [`SecretRef::resolve`] (relative files beside the inventory) so that a passing check
/// means the phase will find the value.
fn check_ref(loaded: &LoadedInventory, path: &str, r: &SecretRef, purpose: &str, errors: &mut Vec<InventoryError>) {
    match (&r.env, &r.file) {
        (Some(var), None) => {
            let problem = match std::env::var_os(var) {
                None => Some("is not set"),
                Some(v) if v.is_empty() => Some("is empty"),
                Some(v) if v.to_str().is_none() => Some("is not valid UTF-8"),
                Some(_) => None,
            };
            if let Some(problem) = problem {
                errors.push(loaded.error_at(
                    &format!("{path}.env"),
                    format!("environment variable {var} {problem}; it holds {purpose}: export {var}=… (lab: source .lab/secrets.env)"),
                ));
            }
        }
        (None, Some(file)) => {
            let full = if file.is_absolute() { file.clone() } else { loaded.base_dir().join(file) };
            let problem = match std::fs::read_to_string(&full) {
                Err(e) => Some(format!("cannot be read ({e})")),
                Ok(v) if v.trim_end_matches(['\n', '\r']).is_empty() => Some("is empty".to_string()),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                errors.push(loaded.error_at(
                    &format!("{path}.file"),
                    format!("secret file {} {problem}; it holds {purpose}: write the value into it (chmod 600)", full.display()),
                ));
            }
        }
        // Shape errors (both or neither) are reported by validation already; a loaded
        // inventory has none.
        _ => {}
    }
}
