//! Drift classification: how a resource that is not in state differs from the inventory.
//!
//! drift-check sorts every [`Status::Change`](super::Status::Change) it sees into one of three
//! buckets. Resources do not have to do anything for that: [`DriftKind::infer`] reads the
//! first word of the change summary, following the convention every resource here already
//! uses ("create …", "add …", "install …" for something absent; "remove …" for something
//! present that should not be). A resource whose summaries do not follow the convention
//! overrides [`Resource::drift_kind`](super::Resource::drift_kind).

/// The drift bucket of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftKind {
    /// Declared, absent on the host.
    Missing,
    /// Declared and present, but differs (content, mode, a field of a job …).
    Different,
    /// Present on the host, declared by nobody (or declared absent).
    Unmanaged,
}

/// First words of a summary that mean "the declared thing is not there" (as does a summary
/// starting `0 → `: from nothing to something).
const MISSING_WORDS: &[&str] = &["create", "add", "install", "generate", "initialise", "initialize"];
/// First words that mean "something is there that should not be".
const UNMANAGED_WORDS: &[&str] = &["remove", "delete"];

impl DriftKind {
    /// The bucket a change summary implies (see the module docs). Everything that is neither
    /// "create …" nor "remove …" is [`DriftKind::Different`]; so is a completion marker whose
    /// version differs, while a marker never written ("version none") is missing.
    pub fn infer(summary: &str) -> DriftKind {
        let s = summary.trim_start();
        let first: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_lowercase();
        // "0 → 3 managed lines": from nothing to something is missing, too.
        let from_nothing = s.starts_with("0 → ") || s.starts_with("record completion (version none");
        if MISSING_WORDS.contains(&first.as_str()) || from_nothing {
            DriftKind::Missing
        } else if UNMANAGED_WORDS.contains(&first.as_str()) {
            DriftKind::Unmanaged
        } else {
            DriftKind::Different
        }
    }

    /// `missing` / `different` / `unmanaged` (report and JSON spelling).
    pub fn as_str(&self) -> &'static str {
        match self {
            DriftKind::Missing => "missing",
            DriftKind::Different => "different",
            DriftKind::Unmanaged => "unmanaged",
        }
    }
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_of_the_standard_resources_land_in_the_right_bucket() {
        for s in [
            "create (4 bytes, mode 0644, root:root)",
            "create (home /home/homelab, shell /bin/bash)",
            "install sudo, rsync",
            "install",
            "add (nfs 10.231.1.25:/volume1/x at /mnt/pve/x)",
            "generate (no key pair yet)",
            "initialise (corosync-qnetd-certutil -i -G, group coroqnetd)",
            "record completion (version none → 0.1.0)",
            "0 → 3 managed lines",
        ] {
            assert_eq!(DriftKind::infer(s), DriftKind::Missing, "{s}");
        }
        for s in ["remove (file)", "remove temporary root keys", "delete job x"] {
            assert_eq!(DriftKind::infer(s), DriftKind::Unmanaged, "{s}");
        }
        for s in [
            "content differs",
            "mode 0644 → 0600",
            "rate 10 → 5",
            "start (inactive)",
            "record completion (version 0.0.9 → 0.1.0)",
            "target a → b",
            "",
            "created-by mismatch", // the whole first word counts, not a prefix
            "1 → 3 managed lines",
        ] {
            assert_eq!(DriftKind::infer(s), DriftKind::Different, "{s}");
        }
        assert_eq!(DriftKind::Unmanaged.to_string(), "unmanaged");
    }
}
