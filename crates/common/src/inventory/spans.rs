//! Where each value of the inventory stands in the file, so that semantic errors found after
//! deserialisation can still name `file:line:col`.
//!
//! Paths use the TOML spelling: `nodes[1].link0`, `networks.mgmt.cidr`, `backup[0].storage`.

use std::collections::HashMap;
use toml_edit::{ImDocument, Item, Value};

/// Byte offsets → (line, column), both 1-based, columns counted in characters.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    spans: HashMap<String, std::ops::Range<usize>>,
    line_starts: Vec<usize>,
    src: String,
}

impl SpanIndex {
    pub fn build(src: &str) -> Self {
        let mut index = SpanIndex {
            spans: HashMap::new(),
            line_starts: std::iter::once(0)
                .chain(src.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            src: src.to_string(),
        };
        if let Ok(doc) = ImDocument::parse(src.to_string()) {
            for (key, item) in doc.as_table().iter() {
                index.walk_item(key.to_string(), item);
            }
        }
        index
    }

    fn walk_item(&mut self, path: String, item: &Item) {
        if let Some(span) = item.span() {
            self.spans.insert(path.clone(), span);
        }
        match item {
            Item::Table(t) => {
                for (k, v) in t.iter() {
                    self.walk_item(format!("{path}.{k}"), v);
                }
            }
            Item::ArrayOfTables(arr) => {
                for (i, t) in arr.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if let Some(span) = t.span() {
                        self.spans.insert(p.clone(), span);
                    }
                    for (k, v) in t.iter() {
                        self.walk_item(format!("{p}.{k}"), v);
                    }
                }
            }
            Item::Value(v) => self.walk_value(path, v),
            Item::None => {}
        }
    }

    fn walk_value(&mut self, path: String, value: &Value) {
        if let Some(span) = value.span() {
            self.spans.insert(path.clone(), span);
        }
        match value {
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.walk_value(format!("{path}[{i}]"), v);
                }
            }
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    self.walk_value(format!("{path}.{k}"), v);
                }
            }
            _ => {}
        }
    }

    /// Line and column of the value at `path`, or of its closest enclosing table when the key
    /// itself is absent (a *missing* key is reported where its table starts).
    pub fn locate(&self, path: &str) -> (usize, usize) {
        let mut p = path.to_string();
        loop {
            if let Some(span) = self.spans.get(&p) {
                return self.line_col(span.start);
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p.truncate(cut),
                None => return (1, 1),
            }
        }
    }

    /// The most specific TOML path whose value starts at `offset` (how a serde error, which
    /// only knows a span, gets the key it is about).
    pub fn path_at(&self, offset: usize) -> Option<&str> {
        self.spans
            .iter()
            .filter(|(_, span)| span.start == offset)
            .max_by_key(|(path, _)| path.len())
            .map(|(path, _)| path.as_str())
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.src.get(start..offset.min(self.src.len())).map(|s| s.chars().count()).unwrap_or(0);
        (line + 1, col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values_and_falls_back_to_the_table() {
        let src = "[cluster]\nname = \"lab\"\n\n[[nodes]]\nname = \"a\"\nlink0 = \"10.0.0.1\"\n\n[[nodes]]\nname = \"b\"\n";
        let idx = SpanIndex::build(src);
        assert_eq!(idx.locate("cluster.name"), (2, 8));
        assert_eq!(idx.locate("nodes[0].link0"), (6, 9));
        assert_eq!(idx.locate("nodes[1].name"), (9, 8));
        // absent key: reported at its table
        assert_eq!(idx.locate("nodes[1].link0").0, 8);
    }
}
