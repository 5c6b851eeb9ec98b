//! Lenient serde field deserializers for Proxmox API JSON.
//!
//! Why: the same logical value reaches us in different JSON types depending on where PVE got it
//! (pve-cli.md §1.3): section-config values are numbers (`"enabled":1`), corosync.conf values
//! are strings (`"nodeid":"1"`), property-string values (`prune-backups`) may be either, and
//! lists are comma strings (`"content":"iso,backup"`). Each helper accepts all of those forms.
//! Use with `#[serde(default, deserialize_with = "lenient::…")]`.

use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;
use std::collections::BTreeSet;

fn with<'de, D, T>(d: D, expected: &str, f: impl Fn(&Value) -> Option<T>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    f(&v).ok_or_else(|| D::Error::custom(format!("expected {expected}, got {v}")))
}

fn with_opt<'de, D, T>(
    d: D,
    expected: &str,
    f: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    f(&v).map(Some).ok_or_else(|| D::Error::custom(format!("expected {expected}, got {v}")))
}

pub(crate) fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Some(true),
            "0" | "no" | "false" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn to_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19).map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn to_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

pub(crate) fn to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// `"a,b, c"` or `["a","b"]` → set; empty items dropped (PVE content/nodes lists are sets).
pub(crate) fn to_set(v: &Value) -> Option<BTreeSet<String>> {
    match v {
        Value::String(s) => Some(
            s.split([',', ';', ' '])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Value::Array(items) => items.iter().map(to_string).collect(),
        _ => None,
    }
}

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    with(d, "a boolean (0/1)", to_bool)
}
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    with_opt(d, "a boolean (0/1)", to_bool)
}
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    with(d, "a non-negative integer", |v| to_u64(v).and_then(|n| u32::try_from(n).ok()))
}
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    with_opt(d, "a non-negative integer", |v| to_u64(v).and_then(|n| u32::try_from(n).ok()))
}
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    with(d, "a non-negative integer", to_u64)
}
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    with_opt(d, "a non-negative integer", to_u64)
}
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    with_opt(d, "an integer", to_i64)
}
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    with_opt(d, "a number", to_f64)
}
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    with(d, "a string", to_string)
}
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    with_opt(d, "a string", to_string)
}
pub fn set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<String>, D::Error> {
    with(d, "a comma-separated list", to_set)
}
pub fn opt_set<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeSet<String>>, D::Error> {
    with_opt(d, "a comma-separated list", to_set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        assert_eq!(to_bool(&json!(1)), Some(true));
        assert_eq!(to_bool(&json!("0")), Some(false));
        assert_eq!(to_bool(&json!("yes")), Some(true));
        assert_eq!(to_bool(&json!("maybe")), None);
        assert_eq!(to_u64(&json!("12")), Some(12));
        assert_eq!(to_u64(&json!(12.0)), Some(12));
        assert_eq!(to_u64(&json!(-1)), None);
        assert_eq!(to_u64(&json!(1.5)), None);
        assert_eq!(to_i64(&json!("-3")), Some(-3));
        assert_eq!(to_f64(&json!("2.5")), Some(2.5));
        assert_eq!(to_f64(&json!("NaN")), None);
        assert_eq!(to_string(&json!(7)), Some("7".into()));
        assert_eq!(
            to_set(&json!("images, backup,,iso")),
            Some(BTreeSet::from(["backup".into(), "images".into(), "iso".into()]))
        );
        assert_eq!(to_set(&json!(["a", 1])), Some(BTreeSet::from(["1".into(), "a".into()])));
        assert_eq!(to_set(&json!({})), None);
    }
}
