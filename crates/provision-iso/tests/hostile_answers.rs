//! Hostile answer files (issue 11 §6) through the validator — both the library entry point
//! (`answer::validate_str`) and the `provision-iso validate FILE` command a user runs.
//!
//! Each case is the golden answer of pve-node1 (`fixtures/golden/pve-node1.answer.toml`)
//! broken in one way: TOML syntax, duplicates, wrong types, unknown keys, out-of-range
//! numbers, deep nesting, NUL bytes, invalid UTF-8, odd Unicode (bidi overrides, zero-width
//! characters, homoglyphs, emoji), very long keys and lines, huge files, CRLF and BOM.
//! A case must end in "valid" (odd but legal) or in problems that
//! * are located inside the file (`FILE:LINE:COL: error: …` from the command), at the
//!   expected place;
//! * say something, readably: no raw control or invisible bidi/zero-width characters and no
//!   message longer than [`MAX_MESSAGE`] characters;
//!
//! and the validator must return: each run has a generous deadline (a hang fails the test).
//! These add to `fixtures/answers/invalid/` (one case per installer rule).

mod common;
#[path = "../../common/tests/support/hostile.rs"]
mod hostile;

use hostile::{bounded, clip, line_of, unreadable};
use provision_iso::answer::{validate_str, Problem, Severity};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = include_str!("fixtures/golden/pve-node1.answer.toml");
const MAX_MESSAGE: usize = 1000;

enum Expect {
    Valid,
    /// An error at `line:col` (col 0 = any) whose message contains `fragment`.
    Error { line: usize, col: usize, fragment: &'static str },
    /// The command refuses the file as a whole (not read as an answer file): its output
    /// contains `fragment` and, when `line` > 0, names `FILE:line:`.
    FileError { line: usize, fragment: &'static str },
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

fn edit(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "test bug: {old:?} is not in the golden answer");
    BASE.replacen(old, new, 1)
}

fn err(name: &'static str, text: String, needle: &str, col: usize, fragment: &'static str) -> Case {
    let line = line_of(&text, needle);
    Case { name, bytes: text.into_bytes(), expect: Expect::Error { line, col, fragment } }
}

fn valid(name: &'static str, text: String) -> Case {
    Case { name, bytes: text.into_bytes(), expect: Expect::Valid }
}

const ZFS: &str = "zfs.raid = \"raid1\"";

fn cases() -> Vec<Case> {
    let mut v = vec![
        valid("golden-answer-as-is", BASE.to_string()),
        // --- syntax ---------------------------------------------------------------------------
        err("syntax-unclosed-string", edit("keyboard = \"de\"", "keyboard = \"de"), "keyboard = \"de", 0, "string"),
        err("syntax-missing-equals", edit("keyboard = \"de\"", "keyboard \"de\""), "keyboard \"de\"", 0, "expected"),
        err("syntax-unclosed-header", edit("[network]", "[network"), "[network", 0, "table header"),
        err("syntax-lone-carriage-return", edit("\n[network]", "\r[network]"), "\r[network]", 1, "U+000D"),
        err("syntax-unclosed-array", edit("disk-list = [\"sda\", \"sdb\"]", "disk-list = [\"sda\", \"sdb\""), "zfs.raid", 0, "array"),
        // --- duplicates -----------------------------------------------------------------------
        err("duplicate-key", edit("keyboard = \"de\"", "keyboard = \"de\"\nkeyboard = \"fr\""), "keyboard = \"fr\"", 1, "duplicate key"),
        Case {
            name: "duplicate-table",
            bytes: format!("{BASE}\n[global]\nkeyboard = \"de\"\n").into_bytes(),
            expect: Expect::Error { line: BASE.lines().count() + 2, col: 1, fragment: "duplicate key" },
        },
        err("duplicate-dotted-and-table", format!("{BASE}\n[disk-setup.zfs]\nashift = 12\n"), "[disk-setup.zfs]", 1, "duplicate key"),
        // --- wrong types ------------------------------------------------------------------------
        err("type-integer-for-enum", edit("keyboard = \"de\"", "keyboard = 1"), "keyboard = 1", 12, ""),
        err("type-string-for-list", edit("disk-list = [\"sda\", \"sdb\"]", "disk-list = \"sda\""), "disk-list = \"sda\"", 13, "invalid type"),
        err("type-string-for-bool", edit("reboot-on-error = false", "reboot-on-error = \"no\""), "reboot-on-error", 19, "invalid type"),
        err("type-datetime-for-string", edit("mailto = \"admin@lab.home.arpa\"", "mailto = 1979-05-27T07:32:00Z"), "mailto = 1979", 10, "invalid type"),
        err("type-table-for-string", edit("country = \"at\"", "country = { code = \"at\" }"), "country = {", 11, "invalid type"),
        // --- unknown keys -----------------------------------------------------------------------
        err("unknown-section", edit("[first-boot]", "[first-bot]"), "[first-bot]", 2, "unknown field `first-bot`"),
        err("unknown-key-in-network", edit("gateway = ", "gatway = "), "gatway", 1, "unknown field `gatway`"),
        err("unknown-key-with-escaped-nul", edit("reboot-on-error = false", "reboot-on-error = false\n\"k\\u0000\" = 1"), "\"k\\u0000\"", 1, "unknown field"),
        // --- out of range -----------------------------------------------------------------------
        err("range-negative-ashift", edit(ZFS, &format!("{ZFS}\nzfs.ashift = -1")), "zfs.ashift = -1", 14, "expected u32"),
        err("range-u32-overflow-copies", edit(ZFS, &format!("{ZFS}\nzfs.copies = 4294967296")), "zfs.copies", 14, "expected u32"),
        err("range-beyond-i64", edit(ZFS, &format!("{ZFS}\nzfs.arc-max = 9223372036854775808")), "zfs.arc-max", 15, ""),
        err("range-cidr-prefix-200", edit("cidr = \"10.231.10.11/24\"", "cidr = \"10.231.10.11/200\""), "cidr = ", 8, ""),
        // --- odd Unicode --------------------------------------------------------------------------
        err("unicode-rtl-override-in-fqdn", edit("pve-node1.lab", "pve\u{202e}node1.lab"), "fqdn =", 8, "fully-qualified"),
        err("unicode-zero-width-joiner-in-fqdn", edit("pve-node1.lab", "pve\u{200d}node1.lab"), "fqdn =", 8, "fully-qualified"),
        err("unicode-cyrillic-homoglyph-in-fqdn", edit("pve-node1.lab", "pve-n\u{43e}de1.lab"), "fqdn =", 8, "fully-qualified"),
        err("unicode-rtl-override-in-mailto", edit("admin@lab", "ad\u{202e}min@lab"), "mailto =", 10, "mail"),
        err("unicode-emoji-in-mailto", edit("admin@lab", "\u{1f4e7}@lab"), "mailto =", 10, "mail"),
        err("unicode-hyphen-homoglyph-in-enum", edit("source = \"from-answer\"", "source = \"from\u{2010}answer\""), "source = \"from", 0, ""),
        err("unicode-escaped-nul-in-enum", edit("keyboard = \"de\"", "keyboard = \"d\\u0000e\""), "keyboard =", 12, "unknown variant"),
        err("unicode-zero-width-space-in-bare-key", edit("keyboard = \"de\"", "key\u{200b}board = \"de\""), "key\u{200b}board", 0, ""),
        valid("unicode-in-a-comment-and-a-key-comment", edit("# Do not edit", "# \u{202e}Do not edit \u{1f600}").replacen("operator@laptop", "operator@laptop \u{1f680} \u{5ba2}", 1)),
        // --- control bytes ------------------------------------------------------------------------
        err("nul-byte-in-a-string", edit("keyboard = \"de\"", "keyboard = \"d\0e\""), "keyboard =", 14, ""),
        err("nul-byte-at-start", format!("\0{BASE}"), "\0", 1, ""),
        // --- line endings and byte-order marks ---------------------------------------------------
        valid("crlf-line-endings", BASE.replace('\n', "\r\n")),
        err("crlf-with-an-error", edit("reboot-on-error = false", "reboot-on-error = \"no\"").replace('\n', "\r\n"), "reboot-on-error", 19, "invalid type"),
        valid("utf8-bom", format!("\u{feff}{BASE}")),
        err("utf8-bom-with-an-error", format!("\u{feff}{}", edit("reboot-on-error = false", "reboot-on-error = \"no\"")), "reboot-on-error", 19, "invalid type"),
        // --- empty ----------------------------------------------------------------------------------
        Case { name: "empty-file", bytes: Vec::new(), expect: Expect::Error { line: 1, col: 1, fragment: "missing field `global`" } },
        Case { name: "only-comments", bytes: b"# nothing\n".to_vec(), expect: Expect::Error { line: 1, col: 1, fragment: "missing field `global`" } },
        // --- size and depth ---------------------------------------------------------------------------
        err("very-long-key", edit("reboot-on-error = false", &format!("reboot-on-error = false\n{} = 1", "k".repeat(100_000))), "kkkk", 1, "unknown field"),
        err("very-long-fqdn", edit("pve-node1.lab", &format!("{}.lab", "p".repeat(100_000))), "fqdn =", 8, ""),
        err("very-long-enum-value", edit("keyboard = \"de\"", &format!("keyboard = \"{}\"", "d".repeat(100_000))), "keyboard =", 12, "unknown variant"),
        err("deeply-nested-arrays", format!("{BASE}x = {}{}\n", "[".repeat(300_000), "]".repeat(300_000)), "x = [", 0, "recursion"),
        err("deeply-nested-inline-tables", format!("{BASE}x = {}1{}\n", "{a=".repeat(100_000), "}".repeat(100_000)), "x = {", 0, "recursion"),
        err("very-long-dotted-key", format!("{BASE}{} = 1\n", vec!["a"; 200_000].join(".")), "a.a.a", 0, ""),
        err("twenty-thousand-unknown-keys", format!("{BASE}[x]\n{}", (0..20_000).map(|i| format!("k{i} = {i}\n")).collect::<String>()), "[x]", 2, "unknown field `x`"),
    ];
    // Files the command refuses as a whole.
    let mut bad = BASE.as_bytes().to_vec();
    let at = BASE.find("pve-node1.lab").unwrap();
    bad[at + 2] = 0xff;
    v.push(Case { name: "invalid-utf8-byte", bytes: bad, expect: Expect::FileError { line: line_of(BASE, "pve-node1.lab"), fragment: "UTF-8" } });
    let utf16: Vec<u8> = [0xff, 0xfe].into_iter().chain(BASE.encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
    v.push(Case { name: "utf16-file", bytes: utf16, expect: Expect::FileError { line: 1, fragment: "UTF-8" } });
    // 10 MiB of comments is a valid answer file (the installer sets no size limit); it must
    // simply be checked in bounded time. Past 16 MiB the command refuses to read on.
    let huge = format!("{BASE}{}", "# padding padding padding padding padding padding padding padding\n".repeat(160_000));
    v.push(Case { name: "ten-mebibyte-file", bytes: huge.into_bytes(), expect: Expect::Valid });
    let bigger = format!("{BASE}{}", "# padding padding padding padding padding padding padding padding\n".repeat(270_000));
    v.push(Case { name: "seventeen-mebibyte-file", bytes: bigger.into_bytes(), expect: Expect::FileError { line: 0, fragment: "bytes" } });
    v
}

fn problem_issues(p: &Problem, lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    if p.line < 1 || p.line > lines || p.col < 1 {
        out.push(format!("position {}:{} is outside the {lines}-line file", p.line, p.col));
    }
    if p.message.trim().is_empty() {
        out.push("empty message".into());
    }
    if let Some(c) = p.message.chars().find(|c| unreadable(*c)) {
        out.push(format!("raw character U+{:04X} in the message", c as u32));
    }
    if p.message.chars().count() > MAX_MESSAGE {
        out.push(format!("message of {} characters", p.message.chars().count()));
    }
    out
}

/// `validate_str` on a [`bounded`] thread named after the case.
fn validate_bounded(name: &str, text: String) -> provision_iso::answer::Report {
    bounded(name, None, move || validate_str(&text))
}

/// Run the command with a deadline; (exit code, stdout, stderr).
fn run_validate_command(name: &str, file: &Path) -> (i32, String, String) {
    let mut child = Command::new(common::bin())
        .args(["validate", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).unwrap();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name}: `provision-iso validate` did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    (status.code().unwrap_or(-1), out, err)
}

#[test]
fn hostile_answer_files_give_located_readable_problems_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut failures = Vec::new();
    let (mut n_valid, mut n_invalid) = (0, 0);
    for case in &cases {
        let file = dir.path().join(format!("{}.toml", case.name));
        std::fs::write(&file, &case.bytes).unwrap();
        let lines = case.bytes.split(|b| *b == b'\n').count();
        let (code, out, errout) = run_validate_command(case.name, &file);
        if errout.contains("panicked") || out.contains("panicked") {
            failures.push(format!("{}: the command panicked:\n{errout}", case.name));
            continue;
        }
        let fname = file.display().to_string();
        match &case.expect {
            Expect::FileError { line, fragment } => {
                n_invalid += 1;
                let all = format!("{out}{errout}");
                if code != 1 || !all.contains(fragment) || (*line > 0 && !all.contains(&format!("{fname}:{line}:"))) {
                    failures.push(format!("{}: expected exit 1 naming {fname}:{line}: and {fragment:?}; got exit {code}:\n{}", case.name, clip(&all)));
                } else {
                    println!("{:<42} {}", case.name, clip(all.lines().next().unwrap_or("").trim_start_matches(&fname)));
                }
                continue;
            }
            Expect::Valid => {
                let report = validate_bounded(case.name, String::from_utf8(case.bytes.clone()).unwrap());
                if !report.is_valid() || code != 0 {
                    failures.push(format!("{}: expected valid, got exit {code}:\n{out}{errout}", case.name));
                }
                n_valid += 1;
            }
            Expect::Error { line, col, fragment } => {
                n_invalid += 1;
                let report = validate_bounded(case.name, String::from_utf8(case.bytes.clone()).unwrap());
                if report.is_valid() || code != 1 {
                    failures.push(format!("{}: expected invalid, got exit {code}, valid={}", case.name, report.is_valid()));
                    continue;
                }
                for p in &report.problems {
                    for i in problem_issues(p, lines) {
                        failures.push(format!("{}: {}:{}: {i}: {}", case.name, p.line, p.col, clip(&p.message)));
                    }
                }
                let hit = report
                    .problems
                    .iter()
                    .any(|p| p.severity == Severity::Error && p.line == *line && (*col == 0 || p.col == *col) && p.message.contains(fragment));
                if !hit {
                    let got: Vec<String> = report.problems.iter().map(|p| format!("  {}:{}: {}", p.line, p.col, clip(&p.message))).collect();
                    failures.push(format!("{}: expected an error at {line}:{col} containing {fragment:?}, got:\n{}", case.name, got.join("\n")));
                }
                // The command prints each problem as FILE:LINE:COL: severity: message.
                let first = &report.problems[0];
                if !out.contains(&format!("{fname}:{}:{}: ", first.line, first.col)) {
                    failures.push(format!("{}: the command's output does not locate the problem:\n{}", case.name, clip(&out)));
                }
                println!("{:<42} {}:{}: {}", case.name, first.line, first.col, clip(&first.message));
            }
        }
    }
    println!("{} hostile answer files: {n_valid} valid, {n_invalid} rejected", cases.len());
    assert!(cases.len() >= 40);
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}
