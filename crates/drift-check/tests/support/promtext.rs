//! A small, strict parser of the Prometheus text exposition format (version 0.0.4), for tests:
//! it rejects what the node_exporter textfile collector would reject, and a bit more (every
//! family must have HELP and TYPE before its first sample, samples of a family contiguous, no
//! duplicate series, a final newline).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub struct Metrics {
    pub types: HashMap<String, String>,
    pub help: HashMap<String, String>,
    /// (name, labels, value) in file order.
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    /// The value of the series `name{labels}` (labels must match exactly).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.iter().find(|(n, l, _)| n == name && *l == want).map(|(_, _, v)| *v)
    }
    /// Every series of a family.
    pub fn family(&self, name: &str) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.samples.iter().filter(|(n, _, _)| n == name).map(|(_, l, v)| (l, *v)).collect()
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_') && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => s.parse().ok(),
        _ => None,
    }
}

/// `{a="x",b="y"}` starting at `s` (which begins with `{`): labels and the rest after `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = &s[1..];
    loop {
        rest = rest.trim_start_matches(' ');
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without `=`")?;
        let name = rest[..eq].trim();
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start_matches(' ');
        let mut chars = rest.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name}: value not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                match c {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape \\{other}")),
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i);
                break;
            } else if c == '\n' {
                return Err(format!("label {name}: raw newline in value"));
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or_else(|| format!("label {name}: unterminated value"))?;
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &rest[end + 1..];
        rest = rest.trim_start_matches(' ');
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected `,` or `}` after a label".into());
        }
    }
}

/// Parse `text`; the first problem is an error naming its line.
pub fn parse(text: &str) -> Result<Metrics, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line does not end with a newline".into());
    }
    let mut m = Metrics::default();
    let mut finished: Vec<String> = Vec::new(); // families whose samples are over
    let mut current: Option<String> = None;
    let mut seen_series: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            let mut it = rest.splitn(3, ' ');
            match it.next() {
                Some("HELP") => {
                    let name = it.next().ok_or_else(|| at("HELP without a name".into()))?;
                    if !is_metric_name(name) {
                        return Err(at(format!("bad metric name {name:?}")));
                    }
                    if m.help.insert(name.to_string(), it.next().unwrap_or("").to_string()).is_some() {
                        return Err(at(format!("second HELP for {name}")));
                    }
                }
                Some("TYPE") => {
                    let name = it.next().ok_or_else(|| at("TYPE without a name".into()))?;
                    let t = it.next().ok_or_else(|| at("TYPE without a type".into()))?;
                    if !is_metric_name(name) {
                        return Err(at(format!("bad metric name {name:?}")));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(at(format!("unknown type {t:?}")));
                    }
                    if m.samples.iter().any(|(s, _, _)| s == name) {
                        return Err(at(format!("TYPE for {name} after its samples")));
                    }
                    if m.types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(at(format!("second TYPE for {name}")));
                    }
                }
                _ => {} // a plain comment
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("sample without a value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        if !m.types.contains_key(name) {
            return Err(at(format!("sample of {name} before its TYPE line")));
        }
        if !m.help.contains_key(name) {
            return Err(at(format!("sample of {name} without a HELP line")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') { parse_labels(&line[name_end..]).map_err(at)? } else { (BTreeMap::new(), &line[name_end..]) };
        let mut fields = rest.split(' ').filter(|f| !f.is_empty());
        let value = fields.next().ok_or_else(|| at("no value".into()))?;
        let value = parse_value(value).ok_or_else(|| at(format!("bad value {value:?}")))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at(format!("bad timestamp {ts:?}")))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        if current.as_deref() != Some(name) {
            if finished.iter().any(|f| f == name) {
                return Err(at(format!("samples of {name} are not contiguous")));
            }
            if let Some(c) = current.take() {
                finished.push(c);
            }
            current = Some(name.to_string());
        }
        let series = (name.to_string(), labels.clone());
        if seen_series.contains(&series) {
            return Err(at(format!("duplicate series {name}{labels:?}")));
        }
        seen_series.push(series);
        m.samples.push((name.to_string(), labels, value));
    }
    Ok(m)
}
