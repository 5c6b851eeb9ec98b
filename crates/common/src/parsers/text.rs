//! Small, panic-free helpers shared by the text parsers (line numbering, `Label: value`
//! splitting, tokens with their byte positions, node ids in hex or decimal).

use std::str::FromStr;

/// Lines with 1-based numbers; a trailing `\r` (CRLF output) is dropped.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// `"Label:   value  "` → `("Label", "value")`, trimming spaces and tabs on both sides.
/// Splits at the first `:` (values such as times and `host:port` keep theirs).
pub(crate) fn label_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(':')?;
    Some((k.trim(), v.trim()))
}

/// Whitespace-separated tokens with their byte offset in `line`, so a parser can take "the
/// rest of the line from token N" verbatim (schedules and error texts contain spaces).
pub(crate) fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                if let Some(t) = line.get(s..i) {
                    out.push((s, t));
                }
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        if let Some(t) = line.get(s..) {
            out.push((s, t));
        }
    }
    out
}

/// The text of `line` from byte `offset` on, trimmed; empty when out of range.
pub(crate) fn rest_from(line: &str, offset: usize) -> &str {
    line.get(offset..).unwrap_or("").trim()
}

/// A corosync node id printed as `0x00000001` (`-H`) or `1`.
pub(crate) fn node_id(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u32::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None => s.parse().ok(),
    }
}

/// `"1, 2, 3"` (corosync node lists) → `[1, 2, 3]`; empty string → empty list.
pub(crate) fn id_list(s: &str) -> Option<Vec<u32>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(node_id).collect()
}

/// Parse a number, naming what was expected on failure.
pub(crate) fn number<T: FromStr>(value: &str, what: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("expected {what}, got {:?}", value.trim()))
}

/// A line made only of `-` (the underlines below corosync block titles).
pub(crate) fn is_underline(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.chars().all(|c| c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_offsets() {
        let line = "  ab\tc  déf ";
        let t = tokens(line);
        assert_eq!(t, vec![(2, "ab"), (5, "c"), (8, "déf")]);
        assert_eq!(rest_from(line, 5), "c  déf");
        assert_eq!(rest_from(line, 500), "");
    }

    #[test]
    fn node_ids_hex_and_decimal() {
        assert_eq!(node_id("0x0000000a"), Some(10));
        assert_eq!(node_id("10"), Some(10));
        assert_eq!(node_id("0x"), None);
        assert_eq!(node_id("-1"), None);
        assert_eq!(id_list("1, 2,3"), Some(vec![1, 2, 3]));
        assert_eq!(id_list(""), Some(vec![]));
        assert_eq!(id_list("1, x"), None);
    }

    #[test]
    fn labels() {
        assert_eq!(label_value("Date:   Mon 12:00:00 "), Some(("Date", "Mon 12:00:00")));
        assert_eq!(label_value("QNetd host:\t\t10.0.0.1:5403"), Some(("QNetd host", "10.0.0.1:5403")));
        assert_eq!(label_value("no colon"), None);
    }
}
