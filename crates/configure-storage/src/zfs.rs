//! ZFS dataset properties on a node (`[[zfs]]` in the inventory): `zfs get` in the observation,
//! `zfs set` of only the properties that differ (setting an inherited property to the value it
//! already has would still turn it into a local one).

use crate::diff::{FieldChange, Memo};
use crate::probes;
use anyhow::{bail, Result};
use common::engine::{Observed, Resource, Status};
use common::inventory::zfs_props::size_bytes;
use common::ssh::{quote, Session};
use std::collections::BTreeMap;

/// `(property, value)` pairs for `zfs set`.
pub type Assignments = Vec<(String, String)>;

#[derive(Debug)]
pub struct ZfsProperties {
    pub dataset: String,
    pub properties: BTreeMap<String, String>,
    differing: Memo<Assignments>,
}

/// Is the observed value (`zfs get -p`, so sizes are raw bytes) the wanted one?
pub fn same_value(want: &str, have: &str) -> bool {
    if want.eq_ignore_ascii_case(have) {
        return true;
    }
    matches!((size_bytes(want), size_bytes(have)), (Some(a), Some(b)) if a == b)
}

/// `zfs get -Hp -o property,value` output → property → value.
pub fn parse_get(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl ZfsProperties {
    pub fn new(dataset: &str, properties: &BTreeMap<String, String>) -> Self {
        ZfsProperties { dataset: dataset.to_string(), properties: properties.clone(), differing: Memo::new() }
    }

    /// Properties that differ: (name, wanted value), with the field changes for the plan.
    pub fn differences(&self, observed: &Observed) -> Result<(Assignments, Vec<FieldChange>)> {
        if observed.status != 0 {
            let why = [observed.stderr.trim(), observed.stdout.trim()].into_iter().find(|s| !s.is_empty()).unwrap_or("");
            bail!("`zfs get` on {} failed: {}", self.dataset, probes::tail(why, 3));
        }
        let have = parse_get(&observed.stdout);
        let mut set = Vec::new();
        let mut changes = Vec::new();
        for (k, want) in &self.properties {
            match have.get(k) {
                Some(h) if same_value(want, h) => {}
                h => {
                    changes.push(FieldChange::new(k, h.map(String::as_str).unwrap_or("-"), want.as_str()));
                    set.push((k.clone(), want.clone()));
                }
            }
        }
        Ok((set, changes))
    }

    fn set_command(&self, set: &[(String, String)]) -> String {
        let assigns: Vec<String> = set.iter().map(|(k, v)| quote(&format!("{k}={v}"))).collect();
        format!("zfs set {} {}", assigns.join(" "), quote(&self.dataset))
    }
}

impl Resource for ZfsProperties {
    fn id(&self) -> String {
        format!("zfs {}", self.dataset)
    }

    fn probe(&self) -> String {
        let props: Vec<&str> = self.properties.keys().map(String::as_str).collect();
        format!("zfs get -Hp -o property,value {} {}\n", quote(&props.join(",")), quote(&self.dataset))
    }

    fn evaluate(&self, observed: &Observed) -> Result<Status> {
        let (set, changes) = self.differences(observed)?;
        self.differing.put(set.clone());
        Ok(if set.is_empty() {
            Status::InState
        } else {
            Status::change_with_diff(crate::diff::summary(&changes), Some(format!("$ {}", self.set_command(&set))))
        })
    }

    fn apply(&self, session: &Session) -> Result<()> {
        let set = match self.differing.get() {
            Some(s) => s,
            None => self.differences(&probes::run_one(session, &self.probe())?)?.0,
        };
        if set.is_empty() {
            return Ok(());
        }
        let out = session.exec_root(&self.set_command(&set), None)?;
        session.check(&self.id(), out).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res() -> ZfsProperties {
        let props: BTreeMap<String, String> =
            [("compression", "lz4"), ("atime", "off"), ("recordsize", "128K")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ZfsProperties::new("rpool/data", &props)
    }

    #[test]
    fn probe_and_set_only_what_differs() {
        let r = res();
        assert_eq!(r.probe(), "zfs get -Hp -o property,value atime,compression,recordsize rpool/data\n");
        let fresh = Observed::new("atime\ton\ncompression\ton\nrecordsize\t131072\n", 0);
        let Status::Change { summary, diff } = r.evaluate(&fresh).unwrap() else { panic!() };
        assert_eq!(summary, "atime on → off; compression on → lz4");
        assert_eq!(diff.unwrap(), "$ zfs set atime=off compression=lz4 rpool/data");
        let done = Observed::new("atime\toff\ncompression\tlz4\nrecordsize\t131072\n", 0);
        assert_eq!(r.evaluate(&done).unwrap(), Status::InState);
    }

    #[test]
    fn missing_dataset_is_an_error() {
        let mut o = Observed::new("", 1);
        o.stderr = "cannot open 'rpool/data': dataset does not exist\n".into();
        let e = res().evaluate(&o).unwrap_err().to_string();
        assert!(e.contains("dataset does not exist") && e.contains("rpool/data"), "{e}");
    }

    #[test]
    fn values_compare_sizes_and_case() {
        assert!(same_value("128K", "131072"));
        assert!(same_value("1M", "1048576"));
        assert!(same_value("LZ4", "lz4"));
        assert!(!same_value("lz4", "zstd"));
        assert!(!same_value("64K", "131072"));
        // a fraction is multiplied out and truncated, as zfs(8) does: 1.3 GiB = 1395864371.2
        assert!(same_value("1.3G", "1395864371"));
        assert!(same_value("1E", "1152921504606846976"));
    }
}
