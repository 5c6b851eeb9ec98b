//! Hostile inventories (issue 11 §6): syntax errors, wrong types, unknown keys, duplicates,
//! out-of-range values, huge files, deep nesting, NUL bytes, invalid UTF-8, odd Unicode
//! (bidi overrides, zero-width characters, homoglyphs, emoji), very long keys and lines,
//! CRLF line endings and byte-order marks.
//!
//! Each case is `good-base.toml` (fixtures/inventory) broken in one way, written to a file and
//! loaded with `common::inventory::load` — the entry point every binary uses. A case must end
//! in either a successful load (inputs that are odd but legal) or errors that
//! * name the file, a line inside it and a column (`file:line:col`), and the expected place;
//! * say something (non-empty), and say it readably: no raw control characters or invisible
//!   bidi/zero-width characters (they would garble or hide parts of the message on a
//!   terminal), and no message longer than [`MAX_MESSAGE`] characters however long the input;
//!
//! and it must return at all: each load runs on a thread with a generous deadline.
//!
//! The cases here add to `fixtures/inventory/bad-*.toml` (one per validation rule); they are
//! built in code because many of them are not files one can keep readably in git.

#[path = "support/hostile.rs"]
mod hostile;

use common::inventory::{load, InventoryError};
use hostile::{bounded, clip, line_of, unreadable};
use std::path::{Path, PathBuf};

const BASE: &str = include_str!("fixtures/inventory/good-base.toml");
/// Longest acceptable message: a located error is read by a person on a terminal.
const MAX_MESSAGE: usize = 1000;

enum Expect {
    /// Loads without errors.
    Valid,
    /// Fails; some error is at `line:col` (col 0 = any column) and contains `fragment`.
    Error { line: usize, col: usize, fragment: &'static str },
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

/// `BASE` with the first `old` replaced by `new` (the case must actually change the file).
fn edit(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "test bug: {old:?} is not in good-base.toml");
    BASE.replacen(old, new, 1)
}

fn err(name: &'static str, text: String, needle: &str, col: usize, fragment: &'static str) -> Case {
    let line = line_of(&text, needle);
    Case { name, bytes: text.into_bytes(), expect: Expect::Error { line, col, fragment } }
}

fn err_at(name: &'static str, bytes: Vec<u8>, line: usize, col: usize, fragment: &'static str) -> Case {
    Case { name, bytes, expect: Expect::Error { line, col, fragment } }
}

fn valid(name: &'static str, bytes: Vec<u8>) -> Case {
    Case { name, bytes, expect: Expect::Valid }
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        // --- TOML syntax ---------------------------------------------------------------------
        err("syntax-unclosed-string", edit("name = \"homelab\"", "name = \"homelab"), "name = \"homelab", 0, "string"),
        err("syntax-missing-equals", edit("name = \"homelab\"", "name \"homelab\""), "name \"homelab\"", 0, "expected"),
        err("syntax-unclosed-table-header", edit("[defaults]", "[defaults"), "[defaults", 0, "expected"),
        err("syntax-unclosed-array", edit("ntp_servers = [\"0.au.pool.ntp.org\"]", "ntp_servers = [\"0.au.pool.ntp.org\""), "[networks.mgmt]", 0, ""),
        err(
            "syntax-inline-table-over-two-lines",
            edit("retention = { keep_last = 4 }", "retention = { keep_last = 4,\nkeep_daily = 7 }"),
            "retention = {",
            0,
            "",
        ),
        err("syntax-bare-word-value", edit("domain = \"home.arpa\"", "domain = home.arpa"), "domain = home", 0, ""),
        err("syntax-trailing-garbage", edit("domain = \"home.arpa\"", "domain = \"home.arpa\" please"), "domain =", 0, ""),
        err("syntax-lone-carriage-return", edit("\n[automation]", "\r[automation]"), "\r[automation]", 1, ""),
        err("syntax-lone-carriage-return-after-value", edit("name = \"homelab\"\n", "name = \"homelab\"\r# c\n"), "name =", 0, ""),
        // --- duplicates -----------------------------------------------------------------------
        err("duplicate-key", edit("domain = \"home.arpa\"", "domain = \"home.arpa\"\ndomain = \"lab.arpa\""), "domain = \"lab.arpa\"", 1, "duplicate key"),
        err("duplicate-table", format!("{BASE}\n[cluster]\nname = \"again\"\n"), "[cluster]\nname = \"again\"", 1, "duplicate key"),
        err("duplicate-via-dotted-key", edit("[cluster]\n", "cluster.name = \"x\"\n[cluster]\n"), "[cluster]", 0, "duplicate key"),
        err("duplicate-key-in-inline-table", edit("retention = { keep_last = 4 }", "retention = { keep_last = 4, keep_last = 5 }"), "retention", 0, "duplicate key"),
        // --- wrong types ------------------------------------------------------------------------
        err("type-string-for-array", edit("ntp_servers = [\"0.au.pool.ntp.org\"]", "ntp_servers = \"0.au.pool.ntp.org\""), "ntp_servers", 15, "expected a sequence"),
        err("type-array-of-tables-for-table", edit("[cluster]", "[[cluster]]"), "[[cluster]]", 0, "cluster"),
        err("type-float-for-integer", edit("guest = 900", "guest = 900.0"), "guest = 900.0", 9, "expected u32"),
        err("type-string-for-bool", edit("all = true", "all = \"yes\""), "all = \"yes\"", 7, "expected a boolean"),
        err("type-datetime-for-string", edit("name = \"homelab\"", "name = 1979-05-27T07:32:00Z"), "name = 1979", 8, "cluster.name"),
        err("type-table-for-string", edit("domain = \"home.arpa\"", "domain = {}"), "domain = {}", 10, "cluster.domain"),
        err("type-array-for-bool", edit("all = true", "all = [true]"), "all = [true]", 7, "expected a boolean"),
        err("type-integer-for-secret-ref", edit("root_password = { env = \"PROXMOX_ROOT_PASSWORD\" }", "root_password = 42"), "root_password = 42", 0, "root_password"),
        // --- unknown keys -----------------------------------------------------------------------
        err("unknown-top-level-table", edit("[monitoring.memory]", "[monitoringg.memory]"), "[monitoringg", 0, "unknown field `monitoringg`"),
        err("unknown-key-in-inline-table", edit("keep_last = 4", "keep_lst = 4"), "keep_lst", 0, "unknown field `keep_lst`"),
        err("unknown-key-in-nested-table", edit("method = \"password\"", "metod = \"password\""), "metod", 1, "unknown field `metod`"),
        err("unknown-quoted-key-with-escaped-nul", edit("domain = \"home.arpa\"", "domain = \"home.arpa\"\n\"dom\\u0000ain\" = \"x\""), "\"dom\\u0000ain\"", 1, "unknown field"),
        // --- out of range -----------------------------------------------------------------------
        err("range-u32-overflow", edit("guest = 900", "guest = 4294967296"), "guest = 4294967296", 9, "expected u32"),
        err("range-beyond-i64", edit("guest = 900", "guest = 9223372036854775808"), "guest = 9223372036854775808", 9, ""),
        err("range-negative-port", edit("user = \"homelab\"", "user = \"homelab\"\nssh_port = -22"), "ssh_port = -22", 12, "expected u16"),
        err("range-u16-overflow-port", edit("user = \"homelab\"", "user = \"homelab\"\nssh_port = 65536"), "ssh_port = 65536", 12, "expected u16"),
        err("range-threshold-above-100", edit("threshold_percent = 90", "threshold_percent = 101"), "threshold_percent = 101", 21, "threshold_percent"),
        err("range-rate-infinite", edit("rate = 10", "rate = inf"), "rate = inf", 8, "rate"),
        err("range-rate-nan", edit("rate = 10", "rate = nan"), "rate = nan", 8, "rate"),
        err("range-interval-zero", edit("interval_minutes = 5", "interval_minutes = 0"), "interval_minutes = 0", 20, "interval"),
        // --- odd Unicode --------------------------------------------------------------------------
        err("unicode-rtl-override-in-node-name", edit("\"pve-node1\"", "\"pve\u{202e}node1\""), "pve\u{202e}node1", 8, "node name"),
        err("unicode-zero-width-joiner-in-node-name", edit("\"pve-node1\"", "\"pve\u{200d}node1\""), "pve\u{200d}node1", 8, "node name"),
        err("unicode-zero-width-space-in-domain", edit("\"home.arpa\"", "\"home\u{200b}.arpa\""), "home\u{200b}", 10, "domain"),
        err("unicode-cyrillic-homoglyph-in-node-name", edit("\"pve-node2\"", "\"pve-n\u{43e}de2\""), "pve-n\u{43e}de2", 8, "node name"),
        err("unicode-emoji-in-cluster-name", edit("name = \"homelab\"", "name = \"\u{1f3e0}lab\""), "\u{1f3e0}lab", 8, "cluster.name"),
        err("unicode-fullwidth-digits-in-address", edit("link0 = \"192.168.10.230\"", "link0 = \"\u{ff11}\u{ff19}\u{ff12}.168.10.230\""), "link0 = \"\u{ff11}", 9, "IP address"),
        err("unicode-nbsp-around-equals", edit("domain = \"home.arpa\"", "domain\u{a0}= \"home.arpa\""), "domain\u{a0}", 0, ""),
        err("unicode-zero-width-space-in-bare-key", edit("domain = \"home.arpa\"", "dom\u{200b}ain = \"home.arpa\""), "dom\u{200b}ain", 0, ""),
        err("unicode-bom-in-the-middle", edit("[defaults]", "\u{feff}[defaults]"), "\u{feff}[defaults]", 1, ""),
        valid("unicode-rtl-override-in-a-comment", edit("# good-base.toml", "# \u{202e}good-base.toml").into_bytes()),
        valid("unicode-emoji-in-a-key-comment", edit("op@laptop", "op@laptop \u{1f680} \u{5ba2}").into_bytes()),
        // --- control bytes ------------------------------------------------------------------------
        err("nul-byte-in-a-string", edit("name = \"homelab\"", "name = \"home\0lab\""), "name = \"home", 13, ""),
        err_at("nul-byte-at-start", format!("\0{BASE}").into_bytes(), 1, 1, ""),
        err("escaped-nul-in-a-value", edit("name = \"homelab\"", "name = \"home\\u0000lab\""), "name = \"home", 8, "cluster.name"),
        err("escape-character-in-a-value", edit("name = \"homelab\"", "name = \"home\\u001b[31mlab\""), "name = \"home", 8, "cluster.name"),
        err("tab-inside-a-host-name", edit("\"pve-node1\"", "\"pve\\tnode1\""), "pve\\tnode1", 8, "node name"),
        // --- line endings and byte-order marks ---------------------------------------------------
        valid("crlf-line-endings", BASE.replace('\n', "\r\n").into_bytes()),
        err("crlf-line-endings-with-an-error", edit("guest = 900", "guest = \"900\"").replace('\n', "\r\n"), "guest = \"900\"", 9, "expected u32"),
        valid("utf8-bom", format!("\u{feff}{BASE}").into_bytes()),
        err("utf8-bom-with-an-error", format!("\u{feff}{}", edit("guest = 900", "guest = \"900\"")), "guest = \"900\"", 9, "expected u32"),
        err_at("utf8-bom-with-an-error-on-line-1", format!("\u{feff}[cluster\n{}", &BASE[BASE.find('\n').unwrap() + 1..]).into_bytes(), 1, 0, ""),
        // --- empty and nearly empty ----------------------------------------------------------------
        err_at("empty-file", Vec::new(), 1, 1, "missing field `cluster`"),
        err_at("only-comments", b"# nothing here\n# at all\n".to_vec(), 1, 1, "missing field `cluster`"),
        err_at("only-whitespace", b" \n\t\n  \n".to_vec(), 1, 1, "missing field `cluster`"),
    ];

    // --- invalid UTF-8 (load checks before parsing; the error names where the bad byte is) ----
    let mut bad = BASE.as_bytes().to_vec();
    let at = BASE.find("pve-node2").unwrap();
    bad[at + 3] = 0xff;
    v.push(err_at("invalid-utf8-byte", bad, line_of(BASE, "pve-node2"), 0, "UTF-8"));
    let mut surrogate = BASE.as_bytes().to_vec();
    let at = BASE.find("homelab").unwrap();
    surrogate.splice(at..at + 1, [0xed, 0xa0, 0x80]);
    v.push(err_at("invalid-utf8-encoded-surrogate", surrogate, line_of(BASE, "homelab"), 0, "UTF-8"));
    let utf16: Vec<u8> = [0xff, 0xfe].into_iter().chain(BASE.encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
    v.push(err_at("utf16-file", utf16, 1, 0, "UTF-8"));

    // --- size and depth ------------------------------------------------------------------------
    let huge = format!("{BASE}\n{}", "# padding padding padding padding padding padding padding padding\n".repeat(160_000));
    assert!(huge.len() > 10 << 20);
    v.push(err_at("ten-mebibyte-file", huge.into_bytes(), 1, 1, "limit"));
    v.push(valid("just-under-the-limit-of-comments", format!("{BASE}# {}\n", "x".repeat(1_000_000)).into_bytes()));
    v.push(err("very-long-key", edit("domain = \"home.arpa\"", &format!("domain = \"home.arpa\"\n{} = 1", "k".repeat(100_000))), "kkkk", 1, "unknown field"));
    v.push(err("very-long-node-name", edit("\"pve-node1\"", &format!("\"{}\"", "n".repeat(100_000))), "nnnn", 8, "node name"));
    v.push(err("very-long-cluster-name", edit("name = \"homelab\"", &format!("name = \"{}\"", "h".repeat(900_000))), "hhhh", 8, "cluster.name"));
    v.push(err("very-long-line-of-garbage", edit("[defaults]", &format!("[defaults]\n{}", "@".repeat(500_000))), "@@@@", 1, ""));
    v.push(err("deeply-nested-arrays", format!("{BASE}x = {}{}\n", "[".repeat(300_000), "]".repeat(300_000)), "x = [", 0, "recursion"));
    v.push(err("deeply-nested-inline-tables", format!("{BASE}x = {}1{}\n", "{a=".repeat(100_000), "}".repeat(100_000)), "x = {", 0, "recursion"));
    v.push(err("very-long-dotted-key", format!("{BASE}{} = 1\n", vec!["a"; 200_000].join(".")), "a.a.a", 0, ""));
    v.push(err("deeply-nested-table-header", format!("{BASE}[{}]\n", vec!["t"; 200_000].join(".")), "[t.t.t", 0, ""));
    let nodes: String = (0..5000)
        .map(|i| format!("[[nodes]]\nname = \"n{i}\"\nrole = \"member\"\nlink0 = \"192.168.10.{}\"\nlink1 = \"192.168.1.{}\"\n\n", i % 250 + 1, i % 250 + 1))
        .collect();
    v.push(err("five-thousand-nodes", format!("{BASE}\n{nodes}"), "address = \"192.168.10.164\"", 11, "already used"));
    v
}

/// Load `path` on a [`bounded`] thread named after the case.
fn load_bounded(name: &str, path: PathBuf) -> Result<(), Vec<InventoryError>> {
    bounded(name, None, move || load(&path).map(|_| ()).map_err(|e| e.0))
}

/// Problems with one error, beyond its expected place (empty = fine).
fn problems(e: &InventoryError, path: &Path, lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    if e.file != path {
        out.push(format!("names {} instead of the file", e.file.display()));
    }
    if e.line < 1 || e.line > lines || e.col < 1 {
        out.push(format!("position {}:{} is outside the {lines}-line file", e.line, e.col));
    }
    if e.message.trim().is_empty() || e.message.trim_start().starts_with(';') {
        out.push("the message says nothing about the problem".into());
    }
    if let Some(c) = e.message.chars().find(|c| unreadable(*c)) {
        out.push(format!("the message contains the raw character U+{:04X}", c as u32));
    }
    let n = e.message.chars().count();
    if n > MAX_MESSAGE {
        out.push(format!("the message is {n} characters long"));
    }
    out
}

#[test]
fn hostile_inventories_give_located_readable_errors_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let (mut n_valid, mut n_error) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let path = dir.path().join(format!("{}.toml", case.name));
        std::fs::write(&path, &case.bytes).unwrap();
        let lines = case.bytes.split(|b| *b == b'\n').count();
        let got = load_bounded(case.name, path.clone());
        match (&case.expect, got) {
            (Expect::Valid, Ok(())) => n_valid += 1,
            (Expect::Valid, Err(errs)) => failures.push(format!("{}: expected to load, got:\n{}", case.name, show(&errs))),
            (Expect::Error { .. }, Ok(())) => failures.push(format!("{}: loaded without errors", case.name)),
            (Expect::Error { line, col, fragment }, Err(errs)) => {
                n_error += 1;
                // `cargo test … -- --nocapture` shows what a user would see for each case.
                println!("{:<45} {}", case.name, clip(&errs[0].to_string().replace(&format!("{}", dir.path().display()), "")));
                if errs.is_empty() {
                    failures.push(format!("{}: Err without any error", case.name));
                    continue;
                }
                for e in &errs {
                    for p in problems(e, &path, lines) {
                        failures.push(format!("{}: {}:{}: {p}: {}", case.name, e.line, e.col, clip(&e.message)));
                    }
                    // Display is what --validate prints: file:line:col: message.
                    let shown = e.to_string();
                    assert!(shown.starts_with(&format!("{}:{}:{}: ", path.display(), e.line, e.col)), "{shown}");
                }
                let hit = errs.iter().any(|e| e.line == *line && (*col == 0 || e.col == *col) && e.message.contains(fragment));
                if !hit {
                    failures.push(format!(
                        "{}: expected an error at {line}:{} containing {fragment:?}, got:\n{}",
                        case.name,
                        if *col == 0 { "*".to_string() } else { col.to_string() },
                        show(&errs)
                    ));
                }
            }
        }
    }
    println!("{} hostile inventories: {n_valid} odd but valid, {n_error} rejected with located errors", cases.len());
    assert!(cases.len() >= 40);
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}

fn show(errs: &[InventoryError]) -> String {
    errs.iter().take(5).map(|e| format!("  {}:{}: {}", e.line, e.col, clip(&e.message))).collect::<Vec<_>>().join("\n")
}

/// Not a regular file: the size check cannot rely on the file's metadata. A pipe that
/// delivers more than the limit must be refused like a big file, not read without bound.
#[test]
fn a_pipe_bigger_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("inventory.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let writer_path = fifo.clone();
    // 3 MiB of comments: far over the 1 MiB limit, small enough to be harmless if read whole.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(&writer_path).unwrap();
        let line = "# ".to_string() + &"x".repeat(1022) + "\n";
        for _ in 0..3 * 1024 {
            if f.write_all(line.as_bytes()).is_err() {
                break; // the reader stopped at the limit: fine
            }
        }
    });
    let got = load_bounded("fifo", fifo.clone());
    let _ = writer.join();
    let errs = got.expect_err("3 MiB through a pipe must not load");
    assert!(errs[0].message.contains("limit"), "{}", show(&errs));
}

#[test]
fn a_directory_or_a_missing_file_says_how_to_name_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in [("directory", dir.path().to_path_buf()), ("missing", dir.path().join("nope.toml"))] {
        let errs = load_bounded(name, path.clone()).expect_err("not loadable");
        assert_eq!((errs[0].line, errs[0].col), (1, 1));
        assert_eq!(errs[0].file, path);
        assert!(errs[0].message.contains("inventory"), "{name}: {}", show(&errs));
    }
}

#[test]
fn readable_escapes_invisible_and_control_characters_and_cuts_long_quotes() {
    use common::inventory::readable;
    assert_eq!(readable("name `a\u{202e}b` contains `\u{202e}`"), "name `a\\u{202e}b` contains `\\u{202e}`");
    assert_eq!(readable("`a\0b\tc\nd`"), "`a\\0b\\tc\\nd`");
    // Printable non-ASCII and quotes stay as they are.
    assert_eq!(readable("`pve-nоde2` \"x\" 'y' `🏠` é"), "`pve-nоde2` \"x\" 'y' `🏠` é");
    let long = format!("unknown field `{}`, expected `name`", "k".repeat(5000));
    let r = readable(&long);
    assert!(r.len() < 200 && r.contains("kkk…`, expected `name`"), "{r}");
}
