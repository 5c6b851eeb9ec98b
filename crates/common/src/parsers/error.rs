//! The one error type of every parser: names the command/file, the line, the offending text
//! and the research section whose layout was expected, so a layout change on a real node is
//! diagnosed from the message alone.

use std::fmt;

/// What a parser reads, for error messages: the command (or file) and where its layout is
/// documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Human name of the input, e.g. "`pvecm status` output".
    pub what: &'static str,
    /// Where the expected layout is written down, e.g. "pve-cli.md §2.5".
    pub doc: &'static str,
}

impl Layout {
    /// An error about the input as a whole (missing block, empty output, …).
    pub fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            what: self.what,
            doc: self.doc,
            line: None,
            text: None,
            message: cap(message.into()),
        }
    }

    /// An error about one line (1-based `line`), quoting (a shortened copy of) it.
    pub fn err_at(&self, line: usize, text: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            what: self.what,
            doc: self.doc,
            line: Some(line),
            text: Some(shorten(text)),
            message: cap(message.into()),
        }
    }
}

/// A parser could not make sense of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub what: &'static str,
    pub doc: &'static str,
    /// 1-based line number, when the problem is on one line.
    pub line: Option<usize>,
    /// The offending line (shortened), when there is one.
    pub text: Option<String>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse {}", self.what)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(text) = &self.text {
            write!(f, " (line: {text:?})")?;
        }
        write!(
            f,
            "; expected the layout described in {} — if the tool's output changed, update the parser and that section",
            self.doc
        )
    }
}

impl std::error::Error for ParseError {}

/// Result of every parser.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;

/// Messages quote what they found (a key, a token, a serde excerpt); a hostile or broken
/// output with a megabyte "token" must still give a readable message (issue 11).
fn cap(message: String) -> String {
    const MAX: usize = 500;
    if message.len() <= MAX {
        return message;
    }
    let mut out: String = message.chars().take(MAX).collect();
    if out.len() < message.len() {
        out.push('…');
    }
    out
}

/// At most 120 characters of `text`, cut on a character boundary, so error messages stay
/// readable even for a megabyte of garbage on one line.
fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Layout = Layout { what: "`x` output", doc: "pve-cli.md §0" };

    #[test]
    fn message_names_line_text_and_doc() {
        let e = L.err_at(3, "bad line", "expected a number");
        let s = e.to_string();
        assert!(s.contains("`x` output at line 3: expected a number"), "{s}");
        assert!(s.contains("\"bad line\""), "{s}");
        assert!(s.contains("pve-cli.md §0"), "{s}");
    }

    #[test]
    fn long_lines_are_shortened_on_char_boundaries() {
        let long = "é".repeat(500);
        let e = L.err_at(1, &long, "x");
        assert_eq!(e.text.as_deref().map(|t| t.chars().count()), Some(121));
    }
}
