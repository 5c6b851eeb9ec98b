//! ONE observation per host for every phase at once.
//!
//! Each phase contributes its probes (facts and resource probes, keyed the way that phase's
//! own code looks them up). They are merged into one `sh -s` run by [`common::engine::observe_list`]
//! — the engine's batched observation — with identical snippets run once: several phases and
//! resources read the same thing (`pvesh get /storage …` for every storage), and on a real node
//! every `pvesh` costs a Perl start-up. The results are handed back per phase under the phase's
//! own keys.

use anyhow::Result;
use common::engine::{self, Observed};
use common::ssh::Session;
use std::collections::{BTreeMap, HashMap};

/// Probes of one host, grouped by phase.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// (phase, key, snippet) in the order added.
    entries: Vec<(String, String, String)>,
}

/// What one host's observation returned: per phase, key → output.
#[derive(Debug, Clone, Default)]
pub struct HostObservation {
    pub by_phase: BTreeMap<String, HashMap<String, Observed>>,
}

impl HostObservation {
    /// The phase's observations (empty when the phase contributed nothing on this host).
    pub fn phase(&self, phase: &str) -> &HashMap<String, Observed> {
        static EMPTY: std::sync::OnceLock<HashMap<String, Observed>> = std::sync::OnceLock::new();
        self.by_phase.get(phase).unwrap_or_else(|| EMPTY.get_or_init(HashMap::new))
    }
}

impl Batch {
    /// Add `probes` of `phase`. A key repeated within a phase keeps its first snippet (the
    /// phases' own batches behave the same: a resource id is observed once).
    pub fn add(&mut self, phase: &str, probes: impl IntoIterator<Item = (String, String)>) {
        for (k, s) in probes {
            if !self.entries.iter().any(|(p, key, _)| p == phase && *key == k) {
                self.entries.push((phase.to_string(), k, s));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Probes as they are added (before de-duplication).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The distinct snippets (labelled by their first user, `phase: key`) and, per entry, the
    /// index of its snippet.
    pub fn unique(&self) -> (Vec<(String, String)>, Vec<usize>) {
        let mut unique: Vec<(String, String)> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut index = Vec::with_capacity(self.entries.len());
        for (phase, key, snippet) in &self.entries {
            let i = *seen.entry(snippet.as_str()).or_insert_with(|| {
                unique.push((format!("{phase}: {key}"), snippet.clone()));
                unique.len() - 1
            });
            index.push(i);
        }
        (unique, index)
    }

    /// Spread the outputs of the distinct snippets back over every entry.
    pub fn distribute(&self, index: &[usize], outputs: &[Observed]) -> HostObservation {
        let mut obs = HostObservation::default();
        for ((phase, key, _), i) in self.entries.iter().zip(index) {
            if let Some(o) = outputs.get(*i) {
                obs.by_phase.entry(phase.clone()).or_default().insert(key.clone(), o.clone());
            }
        }
        obs
    }

    /// Run the whole batch in ONE round trip on `session` (as root via `sudo -n`).
    pub fn observe(&self, session: &Session) -> Result<HostObservation> {
        if self.is_empty() {
            return Ok(HostObservation::default());
        }
        let (unique, index) = self.unique();
        let outputs = engine::observe_list(session, &unique)?;
        Ok(self.distribute(&index, &outputs))
    }

    /// The script [`Batch::observe`] would send (for `-vv` and for measuring the SSH floor
    /// with exactly the same work), with a fixed marker.
    pub fn script(&self) -> String {
        let (unique, _) = self.unique();
        engine::observe::build_script("hiac-drift-check-dump", &unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_snippets_run_once_and_come_back_under_every_key() {
        let mut b = Batch::default();
        b.add("a", [("x".to_string(), "echo one\n".to_string()), ("y".to_string(), "echo two\n".to_string())]);
        b.add("b", [("x".to_string(), "echo two\n".to_string()), ("z".to_string(), "echo one\n".to_string())]);
        b.add("a", [("x".to_string(), "echo other\n".to_string())]); // repeated key: first wins
        assert_eq!(b.len(), 4);
        let (unique, index) = b.unique();
        assert_eq!(unique.len(), 2);
        assert_eq!(unique[0].0, "a: x");
        assert_eq!(index, [0, 1, 1, 0]);

        // Through a real shell, as the engine runs it.
        let script = engine::observe::build_script("m-1", &unique);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let outputs = engine::observe::parse_sections(
            "m-1",
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
            unique.len(),
        )
        .unwrap();
        let obs = b.distribute(&index, &outputs);
        assert_eq!(obs.phase("a")["x"].stdout, "one\n");
        assert_eq!(obs.phase("a")["y"].stdout, "two\n");
        assert_eq!(obs.phase("b")["x"].stdout, "two\n");
        assert_eq!(obs.phase("b")["z"].stdout, "one\n");
        assert!(obs.phase("nope").is_empty());
        assert!(b.script().contains("# probe 1: a: y"));
    }
}
