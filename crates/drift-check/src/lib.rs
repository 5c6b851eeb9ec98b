//! drift-check: the whole homelab compared with its inventory, read-only (issue 9).
//!
//! Every phase's desired state is reused from the phase libraries ([`phases`]): nothing is
//! re-described here. Each host is reached as the automation user and observed in ONE batched
//! round trip holding every phase's probes ([`batch`]); hosts run in parallel. Evaluation then
//! sorts what differs into three buckets ([`classify`]):
//!
//! * **missing** — declared, absent;
//! * **different** — declared, differs (with a field-level or unified diff);
//! * **unmanaged** — present, declared by nobody: a stray authorized key, an undeclared
//!   storage / backup job / replication job, a root-key window left open on the Pi, an extra
//!   corosync node;
//!
//! and reports health: quorum and votes, corosync links, the QDevice, qnetd, replication
//! failures and inactive storages. Output for people, `--json` for machines, `--prometheus`
//! for node_exporter, `--markdown` for CI summaries ([`render`], [`prometheus`]); scheduling on
//! the control host with [`timer`].
//!
//! Exit codes: 0 clean; 2 drift or degraded health; 1 something could not be checked (named).
//!
//! Read-only by construction: the only remote command is the engine's batched observation;
//! no resource's `apply` is reachable from [`run::run`].

pub mod batch;
pub mod classify;
pub mod model;
pub mod phases;
pub mod prometheus;
pub mod render;
pub mod run;
pub mod timer;

pub use model::{Bucket, DriftItem, Health, HostResult, Report};
pub use phases::PhaseSet;
pub use run::{run, Options};

/// Name in reports.
pub const TOOL: &str = "drift-check";

#[cfg(test)]
mod tests {
    /// Read-only by construction: no source file of drift-check can reach a change. (The
    /// engine's `converge` and every resource's `apply`/`on_notify` are the only ways to
    /// change a host; none of them is called here.)
    #[test]
    fn no_path_to_a_change_is_compiled_in() {
        let sources = [
            ("batch.rs", include_str!("batch.rs")),
            ("classify.rs", include_str!("classify.rs")),
            ("model.rs", include_str!("model.rs")),
            ("phases/mod.rs", include_str!("phases/mod.rs")),
            ("phases/node.rs", include_str!("phases/node.rs")),
            ("phases/qdevice.rs", include_str!("phases/qdevice.rs")),
            ("phases/cluster.rs", include_str!("phases/cluster.rs")),
            ("phases/storage.rs", include_str!("phases/storage.rs")),
            ("prometheus.rs", include_str!("prometheus.rs")),
            ("render.rs", include_str!("render.rs")),
            ("run.rs", include_str!("run.rs")),
            ("timer.rs", include_str!("timer.rs")),
            ("main.rs", include_str!("main.rs")),
        ];
        for (name, text) in sources {
            for needle in [".apply(", "on_notify(", "converge(", "Mode::Apply", "exec_root(", "script_root(", ".upload("] {
                assert!(!text.contains(needle), "{name} contains `{needle}`: drift-check must never change a host");
            }
        }
    }
}
