//! Answer files: the schema (`model`), validation with positions (`check` + `rules`), and the
//! value types with installer parsing rules (`net`, `locale`). Generation from the inventory
//! lives in `crate::generate`.

pub mod check;
pub mod locale;
pub mod model;
pub mod net;
pub mod rules;

use common::inventory::SpanIndex;
use serde::Serialize;
use std::fmt;

pub use model::AutoInstallerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding in an answer file. `message` is the installer's own text where it has one
/// (auto-install.md §3); `hint` is ours: what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {sev}: {}", self.line, self.col, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n    help: {h}")?;
        }
        Ok(())
    }
}

/// The result of checking one answer file.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every problem, sorted by position.
    pub problems: Vec<Problem>,
    /// The parsed file when the installer would parse it (stage 1 passed).
    pub config: Option<AutoInstallerConfig>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }
}

/// Check answer-file text by the installer's rules (§2, §3.1–3.5). Finds every problem.
pub fn validate_str(src: &str) -> Report {
    let spans = SpanIndex::build(src);
    // Syntax first: nothing else is meaningful in a file that is not TOML.
    if let Err(e) = toml::from_str::<toml::Table>(src) {
        let (line, col) = e.span().map(|s| spans.line_col(s.start)).unwrap_or((1, 1));
        let mut message = e.message().trim_end().to_string();
        // toml says nothing for some stray characters (a lone CR at a line start): name it.
        if message.is_empty() {
            let c = e.span().and_then(|s| src.get(s.start..)).and_then(|t| t.chars().next());
            message = c.map_or("invalid TOML".into(), |c| format!("invalid TOML: unexpected character {c:?} (U+{:04X})", c as u32));
        }
        let problem = Problem { line, col, severity: Severity::Error, message: readable(&message), hint: None };
        return Report { problems: vec![problem], config: None };
    }
    let doc = toml_edit::ImDocument::parse(src.to_string()).expect("toml and toml_edit agree on syntax");

    let mut walker = check::Walker { spans: &spans, problems: Vec::new() };
    walker.walk_root(doc.as_table());
    let mut problems = walker.problems;

    // The whole-file parse is what the installer does; it must agree with the walk.
    let config = match toml::from_str::<AutoInstallerConfig>(src) {
        Ok(c) => Some(c),
        Err(e) => {
            if !problems.iter().any(|p| p.severity == Severity::Error) {
                let (line, col) = e.span().map(|s| spans.line_col(s.start)).unwrap_or((1, 1));
                problems.push(Problem {
                    line,
                    col,
                    severity: Severity::Error,
                    message: e.message().trim_end().to_string(),
                    hint: None,
                });
            }
            None
        }
    };

    problems.extend(rules::check_sections(doc.as_table(), &spans));
    // A key the parser rejects gets its error; the deprecation note would only mislead
    // (validate-answer never gets that far either).
    let rejected: Vec<(usize, usize)> =
        problems.iter().filter(|p| p.message.starts_with("unknown field")).map(|p| (p.line, p.col)).collect();
    problems.extend(
        check::snake_case_warnings(doc.as_table(), &spans).into_iter().filter(|w| !rejected.contains(&(w.line, w.col))),
    );
    problems.sort_by_key(|p| (p.line, p.col));
    problems.dedup();
    for p in &mut problems {
        p.message = readable(&p.message);
    }
    Report { problems, config }
}

/// Messages quote the file's values: escape control/bidi/invisible characters and cut very
/// long quoted values (`common::inventory::readable`), keeping toml's own line breaks.
fn readable(message: &str) -> String {
    message.split('\n').map(common::inventory::readable).collect::<Vec<_>>().join("\n")
}

/// The first error serde reports for the whole file (what `proxmox-auto-installer` prints),
/// or `None` when the file parses. Used to cross-check the walker.
pub fn installer_parse_error(src: &str) -> Option<String> {
    toml::from_str::<AutoInstallerConfig>(src).err().map(|e| e.message().trim_end().to_string())
}

/// Only the stage-1 walk (schema problems), for cross-checking against serde; `None` when
/// the text is not TOML at all.
pub fn schema_problems(src: &str) -> Option<Vec<Problem>> {
    let spans = SpanIndex::build(src);
    let doc = toml_edit::ImDocument::parse(src.to_string()).ok()?;
    toml::from_str::<toml::Table>(src).ok()?;
    let mut walker = check::Walker { spans: &spans, problems: Vec::new() };
    walker.walk_root(doc.as_table());
    Some(walker.problems)
}

/// The report as the `validate` command prints it for one file (without the file name).
pub fn render_report(report: &Report) -> String {
    report.problems.iter().map(|p| format!("{p}\n")).collect()
}
