//! Typed shapes of `pvesh get <path> --output-format json` (and `pvenode cert info
//! --output-format json`), the machine-readable way to read PVE state (pve-cli.md §1.3).
//!
//! JSON from pvesh is one line, keys sorted. Numbers vs strings vary with where PVE got a value
//! (pve-cli.md §1.3), so fields use the [`super::lenient`] deserializers. Unknown keys are
//! accepted (new PVE versions add fields); where the whole object matters (storage and backup
//! definitions) they are kept in an `extra` map so drift reports can show them.
//!
//! Errors name the array entry (`entry 2 (storage "nas1")`) that failed, not just a column.

pub mod backup;
pub mod cert;
pub mod cluster;
pub mod replication;
pub mod storage;

use super::error::{Layout, ParseError, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parse the whole output as JSON, with an error that says what was expected.
fn json_value(layout: Layout, text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Err(layout.err(
            "empty output — pvesh prints nothing when the API returns null; was `--output-format json` given?",
        ));
    }
    serde_json::from_str(text).map_err(|e| ParseError {
        what: layout.what,
        doc: layout.doc,
        line: Some(e.line()),
        text: None,
        message: format!("invalid JSON: {e}"),
    })
}

/// A short name for an array entry in error messages: its id-like key, if any.
fn describe(v: &Value) -> String {
    for key in ["id", "storage", "node", "name", "filename"] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            return format!(" ({key} {s:?})");
        }
    }
    String::new()
}

/// A JSON array whose entries each deserialize into `T`.
pub(crate) fn from_json_list<T: DeserializeOwned>(layout: Layout, text: &str) -> Result<Vec<T>> {
    let v = json_value(layout, text)?;
    let Value::Array(items) = v else {
        return Err(layout.err(format!("expected a JSON array, got {}", kind(&v))));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let what = describe(&item);
            T::deserialize(item).map_err(|e| layout.err(format!("entry {}{what}: {e}", i + 1)))
        })
        .collect()
}

/// A single JSON object deserialized into `T`.
pub(crate) fn from_json_object<T: DeserializeOwned>(layout: Layout, text: &str) -> Result<T> {
    let v = json_value(layout, text)?;
    if !v.is_object() {
        return Err(layout.err(format!("expected a JSON object, got {}", kind(&v))));
    }
    T::deserialize(v).map_err(|e| layout.err(e.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const L: Layout = Layout { what: "`pvesh get /x` JSON", doc: "pve-cli.md §0" };

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Thing {
        id: String,
        n: u32,
    }

    #[test]
    fn errors_name_the_entry() {
        let e = from_json_list::<Thing>(L, r#"[{"id":"a","n":1},{"id":"b"}]"#).unwrap_err();
        assert!(e.message.contains("entry 2 (id \"b\"): missing field `n`"), "{e}");
        let e = from_json_list::<Thing>(L, "").unwrap_err();
        assert!(e.message.contains("empty output"), "{e}");
        let e = from_json_list::<Thing>(L, "{}").unwrap_err();
        assert!(e.message.contains("expected a JSON array, got an object"), "{e}");
        let e = from_json_list::<Thing>(L, "[{\"id\":").unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{e}");
        assert_eq!(e.line, Some(1));
        let e = from_json_object::<Thing>(L, "[]").unwrap_err();
        assert!(e.message.contains("expected a JSON object"), "{e}");
    }
}
