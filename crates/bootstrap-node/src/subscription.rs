//! Opt-in removal of the "No valid subscription" dialog (`defaults.remove_subscription_notice`).
//!
//! proxmox-widget-toolkit's `checked_command` asks the API for the subscription status and
//! shows the dialog when it is not `active`; the command the user asked for runs only after
//! the dialog is dismissed. We turn that condition into `false`, so the command runs at once
//! (unlike patches that swallow the dialog call and with it the command). The patch is made
//! only when the expected code is found; any other shape is reported as "not applicable" and
//! the file is left alone. A package upgrade restores the file; the next run patches again.

pub const PROXMOXLIB: &str = "/usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js";
pub const BACKUP: &str = "/usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js.homelab-iac.bak";
/// Marker left in the patched condition; its presence means "patched".
pub const MARK: &str = "/* homelab-iac: subscription notice removed */";
/// The status test inside the condition (its line breaks vary between releases).
pub const NEEDLE: &str = ".data.status.toLowerCase() !== 'active'";

/// What the file looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Patched,
    /// The expected code is there; this is the patched text.
    Patchable(String),
    /// Neither our mark nor the expected code: the file changed shape.
    NotApplicable,
}

/// Classify from grep-style counts (the cheap probe) without reading the whole file.
pub fn classify_counts(mark_found: bool, needle_found: bool) -> Option<bool> {
    match (mark_found, needle_found) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

/// Patch the text: in `if (<cond> … NEEDLE) {`, the whole condition becomes `MARK false`.
pub fn patch(js: &str) -> State {
    if js.contains(MARK) {
        return State::Patched;
    }
    let Some(at) = js.find(NEEDLE) else { return State::NotApplicable };
    let end = at + NEEDLE.len();
    // The condition must close right after the needle (whitespace allowed: PVE 9's prettier
    // layout puts `)` on its own line), and its `if (` must be close before it (a few hundred
    // bytes: `res === null || res === undefined || !res || res` on one or several lines).
    if !js[end..].trim_start().starts_with(')') {
        return State::NotApplicable;
    }
    let window_start = at.saturating_sub(300);
    let window_start = (window_start..at).find(|i| js.is_char_boundary(*i)).unwrap_or(at);
    let Some(rel) = js[window_start..at].rfind("if (") else { return State::NotApplicable };
    let cond_start = window_start + rel + "if (".len();
    let mut out = String::with_capacity(js.len() + MARK.len());
    out.push_str(&js[..cond_start]);
    out.push_str(MARK);
    out.push_str(" false");
    out.push_str(&js[end..]);
    State::Patchable(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape in proxmox-widget-toolkit (PVE 8/9), tabs as in the file.
    const JS: &str = "    checked_command: function(orig_cmd) {\n\tProxmox.Utils.API2Request(\n\t    {\n\t\turl: '/nodes/localhost/subscription',\n\t\tmethod: 'GET',\n\t\tsuccess: function(response, opts) {\n\t\t    let res = response.result;\n\t\t    if (res === null || res === undefined || !res || res\n\t\t\t.data.status.toLowerCase() !== 'active') {\n\t\t\tExt.Msg.show({\n\t\t\t    title: gettext('No valid subscription'),\n\t\t\t});\n\t\t    } else {\n\t\t\torig_cmd();\n\t\t    }\n";

    #[test]
    fn condition_becomes_false_and_rest_is_untouched() {
        let State::Patchable(out) = patch(JS) else { panic!("expected patchable") };
        assert!(out.contains("\t\t    if (/* homelab-iac: subscription notice removed */ false) {\n\t\t\tExt.Msg.show({"), "{out}");
        assert!(out.contains("orig_cmd();"));
        assert_eq!(out.len(), JS.len() - "res === null || res === undefined || !res || res\n\t\t\t.data.status.toLowerCase() !== 'active'".len() + MARK.len() + " false".len());
        assert_eq!(patch(&out), State::Patched);
        assert_eq!(classify_counts(out.contains(MARK), out.contains(NEEDLE)), Some(true));
        assert_eq!(classify_counts(JS.contains(MARK), JS.contains(NEEDLE)), Some(false));
    }

    // PVE 9 (prettier) layout, as the lab's pve image ships it.
    const JS9: &str = "                success: function (response, opts) {\n                    let res = response.result;\n                    if (\n                        res === null ||\n                        res === undefined ||\n                        !res ||\n                        res.data.status.toLowerCase() !== 'active'\n                    ) {\n                        Ext.Msg.show({\n                            title: gettext('No valid subscription'),\n";

    #[test]
    fn prettier_layout_is_patched_too() {
        let State::Patchable(out) = patch(JS9) else { panic!("expected patchable") };
        assert!(
            out.contains("                    if (/* homelab-iac: subscription notice removed */ false\n                    ) {\n"),
            "{out}"
        );
        assert_eq!(patch(&out), State::Patched);
    }

    #[test]
    fn other_shapes_are_not_applicable() {
        assert_eq!(patch("function x() { return 1; }"), State::NotApplicable);
        // needle present but the condition continues: do not guess
        let odd = JS.replace("!== 'active')", "!== 'active' && x)");
        assert_eq!(patch(&odd), State::NotApplicable);
        assert_eq!(classify_counts(false, false), None);
    }
}
