//! `--validate` for every binary: load and check the inventory plus the phase's own needs,
//! touch no host, print a one-line summary (or every problem), exit 0 / 1.
//!
//! A phase's `main` does:
//! ```no_run
//! # let args: common::cli::CommonArgs = unimplemented!();
//! use common::inventory::{run_validate, SecretNeed};
//! if args.validate {
//!     std::process::exit(run_validate(&args, &[SecretNeed::QDeviceFirstContact]));
//! }
//! ```

use super::needs::{check_secrets_for, SecretNeed};
use super::{load, Inventory, InventoryError};
use crate::cli::{exit, CommonArgs};

/// One line describing a valid inventory, e.g. `valid: cluster homelab (domain home.arpa),
/// 2 nodes, qdevice qdevice1, 3 NFS storages, 1 replication job, 1 backup job`.
pub fn summary(inv: &Inventory) -> String {
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let qdevice = match &inv.qdevice {
        Some(q) => format!("qdevice {}", q.name),
        None => "no qdevice".to_string(),
    };
    format!(
        "valid: cluster {} (domain {}), {}, {qdevice}, {}, {}, {}",
        inv.cluster.name,
        inv.cluster.domain,
        count(inv.nodes.len(), "node", "nodes"),
        count(inv.storage.nfs.len(), "NFS storage", "NFS storages"),
        count(inv.replication.len(), "replication job", "replication jobs"),
        count(inv.backup.len(), "backup job", "backup jobs"),
    )
}

/// What `--validate` prints and returns, kept apart from printing so it can be tested.
#[derive(Debug, Clone)]
pub struct ValidateOutcome {
    /// [`exit::OK`] when valid, [`exit::ERROR`] otherwise.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub errors: Vec<InventoryError>,
}

/// Load `args.inventory`, check `needs` for the hosts `--node` selects, and describe the result.
pub fn validate_outcome(args: &CommonArgs, needs: &[SecretNeed]) -> ValidateOutcome {
    let path = &args.inventory;
    let (errors, summary_line) = match load(path) {
        Err(e) => (e.0, None),
        Ok(loaded) => {
            let mut errors = Vec::new();
            let hosts: Vec<&str> = loaded
                .inv
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .chain(loaded.inv.qdevice.iter().map(|q| q.name.as_str()))
                .chain(loaded.inv.nas.iter().map(|n| n.name.as_str()))
                .collect();
            for n in &args.nodes {
                if !hosts.contains(&n.as_str()) {
                    errors.push(InventoryError {
                        file: path.clone(),
                        line: 1,
                        col: 1,
                        message: format!("--node {n}: no host of that name in the inventory; hosts are {}", hosts.join(", ")),
                    });
                }
            }
            errors.extend(check_secrets_for(&loaded, needs, &|h| args.selects(h)));
            (errors, Some(summary(&loaded.inv)))
        }
    };
    let valid = errors.is_empty();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if args.json {
        let doc = serde_json::json!({
            "valid": valid,
            "inventory": path.display().to_string(),
            "summary": if valid { summary_line.clone() } else { None },
            "errors": errors.iter().map(|e| serde_json::json!({
                "file": e.file.display().to_string(),
                "line": e.line,
                "col": e.col,
                "message": e.message,
            })).collect::<Vec<_>>(),
        });
        stdout = format!("{doc}\n");
    } else if valid {
        if !args.quiet {
            stdout = format!("{}\n", summary_line.unwrap_or_default());
        }
    } else {
        for e in &errors {
            stderr.push_str(&format!("error: {e}\n"));
        }
        let n = errors.len();
        stderr.push_str(&format!(
            "invalid: {n} problem{} in {}\n",
            if n == 1 { "" } else { "s" },
            path.display()
        ));
    }
    ValidateOutcome { code: if valid { exit::OK } else { exit::ERROR }, stdout, stderr, errors }
}

/// `--validate`: print the outcome (summary on stdout, problems on stderr) and return the
/// exit code (0 valid, 1 invalid).
pub fn run_validate(args: &CommonArgs, needs: &[SecretNeed]) -> i32 {
    let out = validate_outcome(args, needs);
    print!("{}", crate::secret::redact(&out.stdout));
    eprint!("{}", crate::secret::redact(&out.stderr));
    out.code
}
