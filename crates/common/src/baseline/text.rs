//! Small, pure text edits used by the baseline and the phases: a managed block inside a file
//! that others also edit (`/etc/hosts`, `/etc/gai.conf`), and `KEY=value` lines in shell-style
//! default files (`/etc/default/corosync-qnetd`).
//!
//! Everything here is a function from (current text, desired piece) to new text, so "is it in
//! state?" is simply `edit(current) == current` and every edit is unit-tested.

/// Markers around a block we own inside a shared file.
#[derive(Debug, Clone, Copy)]
pub struct BlockMarkers<'a> {
    pub begin: &'a str,
    pub end: &'a str,
}

/// The markers every homelab-iac block uses (`#` comments work in hosts, gai.conf, sh files).
pub const MARKERS: BlockMarkers<'static> = BlockMarkers {
    begin: "# BEGIN homelab-iac (managed; edits inside this block are overwritten)",
    end: "# END homelab-iac",
};

/// Replace our block in `current` by `body` (lines without the markers), or append it at the
/// end when it is absent. `drop_line` removes other lines outside the block (e.g. conflicting
/// `/etc/hosts` entries); pass `|_| false` to keep everything. The result always ends with a
/// newline; text outside the block keeps its order.
pub fn set_block(current: &str, markers: BlockMarkers<'_>, body: &str, drop_line: impl Fn(&str) -> bool) -> String {
    let mut before: Vec<&str> = Vec::new();
    let mut after: Vec<&str> = Vec::new();
    let mut state = 0; // 0 = before our block, 1 = inside, 2 = after
    let mut found = false;
    for line in current.lines() {
        match state {
            0 if line.trim_end() == markers.begin => {
                state = 1;
                found = true;
            }
            1 if line.trim_end() == markers.end => state = 2,
            1 => {}
            // A second copy of our block (hand-made duplicate) is dropped as well.
            2 if line.trim_end() == markers.begin => state = 1,
            0 => {
                if !drop_line(line) {
                    before.push(line)
                }
            }
            _ => {
                if !drop_line(line) {
                    after.push(line)
                }
            }
        }
    }
    let mut out = String::new();
    for l in &before {
        out.push_str(l);
        out.push('\n');
    }
    if !found {
        // Appended: separate from the previous text by one blank line, like a human would.
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
    }
    out.push_str(markers.begin);
    out.push('\n');
    for l in body.lines() {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(markers.end);
    out.push('\n');
    for l in &after {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Set `KEY="value"` in a shell-style defaults file: the first assignment of KEY is replaced, later assignments are removed, and the line is appended when absent.
/// Comments and other variables stay as they are.
pub fn set_shell_var(current: &str, key: &str, value: &str) -> String {
    let wanted = format!("{key}=\"{value}\"");
    let mut out = String::new();
    let mut done = false;
    for line in current.lines() {
        let t = line.trim_start();
        let is_assignment = t.strip_prefix(key).is_some_and(|rest| rest.starts_with('='));
        if is_assignment {
            if !done {
                out.push_str(&wanted);
                out.push('\n');
                done = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done {
        out.push_str(&wanted);
        out.push('\n');
    }
    out
}

/// Value of `KEY=` in a shell-style file (quotes removed), for reports. `None` when unset.
pub fn shell_var(current: &str, key: &str) -> Option<String> {
    current.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(key)?.strip_prefix('=')?;
        let v = rest.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        Some(v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "10.0.0.1 a\n10.0.0.2 b\n";

    #[test]
    fn block_is_appended_once_and_then_stable() {
        let cur = "127.0.0.1 localhost\n";
        let once = set_block(cur, MARKERS, BODY, |_| false);
        assert_eq!(
            once,
            format!("127.0.0.1 localhost\n\n{}\n10.0.0.1 a\n10.0.0.2 b\n{}\n", MARKERS.begin, MARKERS.end)
        );
        assert_eq!(set_block(&once, MARKERS, BODY, |_| false), once, "second edit must be a no-op");
    }

    #[test]
    fn block_is_replaced_in_place_and_duplicates_dropped() {
        let cur = format!(
            "head\n{b}\nold\n{e}\nmiddle\n{b}\ndup\n{e}\ntail\n",
            b = MARKERS.begin,
            e = MARKERS.end
        );
        let new = set_block(&cur, MARKERS, "new\n", |_| false);
        assert_eq!(new, format!("head\n{b}\nnew\n{e}\nmiddle\ntail\n", b = MARKERS.begin, e = MARKERS.end));
    }

    #[test]
    fn block_on_empty_file_and_dropped_lines() {
        assert_eq!(set_block("", MARKERS, "x", |_| false), format!("{}\nx\n{}\n", MARKERS.begin, MARKERS.end));
        let new = set_block("keep\ndrop me\n", MARKERS, "x", |l| l.starts_with("drop"));
        assert_eq!(new, format!("keep\n\n{}\nx\n{}\n", MARKERS.begin, MARKERS.end));
    }

    #[test]
    fn shell_var_replaces_first_assignment_and_keeps_comments() {
        let cur = "# comment\nCOROSYNC_QNETD_OPTIONS=\"\"\nCOROSYNC_QNETD_RUNAS=\"\"\nCOROSYNC_QNETD_RUNAS=root\n";
        let new = set_shell_var(cur, "COROSYNC_QNETD_RUNAS", "coroqnetd");
        assert_eq!(new, "# comment\nCOROSYNC_QNETD_OPTIONS=\"\"\nCOROSYNC_QNETD_RUNAS=\"coroqnetd\"\n");
        assert_eq!(set_shell_var(&new, "COROSYNC_QNETD_RUNAS", "coroqnetd"), new);
        assert_eq!(shell_var(&new, "COROSYNC_QNETD_RUNAS").as_deref(), Some("coroqnetd"));
        assert_eq!(shell_var(&new, "COROSYNC_QNETD"), None, "prefix of another key must not match");
    }

    #[test]
    fn shell_var_appends_when_absent_and_ignores_longer_names() {
        let new = set_shell_var("FOO_BAR=1\n", "FOO", "x");
        assert_eq!(new, "FOO_BAR=1\nFOO=\"x\"\n");
        assert_eq!(set_shell_var("", "FOO", "x"), "FOO=\"x\"\n");
    }
}
