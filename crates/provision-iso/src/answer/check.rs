//! Stage 1 of validation (auto-install.md §3.1), done so that *every* problem is found.
//!
//! serde stops at the first error. To report all of them with `line:col`, we walk the
//! `toml_edit` document along a small description of the schema (below, kept in the same
//! field order as `model.rs`) and check each leaf by deserialising *that value alone* into its
//! real model type. The messages therefore come from serde itself (``unknown variant …``,
//! ``invalid type …``) and match what the installer prints; the struct-level messages
//! (``unknown field``, ``missing field``, ``duplicate field``) are built exactly as serde
//! builds them. `tests/answers.rs` cross-checks this against a whole-file serde parse.

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use toml_edit::{Item, Key, TableLike, Value};

use super::model::*;
use super::{Problem, Severity};
use common::inventory::SpanIndex;

type LeafCheck = fn(&str) -> Result<(), String>;

/// Deserialise one value's TOML text as `T`; the error text is the installer's message.
fn leaf<T: DeserializeOwned>(text: &str) -> Result<(), String> {
    T::deserialize(toml::de::ValueDeserializer::new(text))
        .map(|_| ())
        .map_err(|e| e.message().trim_end().to_string())
}

enum Kind {
    Leaf(LeafCheck),
    Struct(&'static StructSchema),
    /// `[network]`: internally tagged by `source`.
    Network,
}

struct Field {
    name: &'static str,
    aliases: &'static [&'static str],
    required: bool,
    kind: Kind,
}

struct StructSchema {
    /// Checks a non-table value given where this struct belongs (serde's invalid-type text).
    type_check: LeafCheck,
    fields: &'static [Field],
    /// Keys we know people write from older guides, with what to do instead.
    hints: &'static [(&'static str, &'static str)],
}

const fn f(name: &'static str, required: bool, kind: Kind) -> Field {
    Field { name, aliases: &[], required, kind }
}
const fn fa(name: &'static str, aliases: &'static [&'static str], required: bool, kind: Kind) -> Field {
    Field { name, aliases, required, kind }
}

// Field order = declaration order of proxmox-installer-types (it shows in "expected one of").
static ROOT: StructSchema = StructSchema {
    type_check: leaf::<AutoInstallerConfig>,
    fields: &[
        f("global", true, Kind::Struct(&GLOBAL)),
        f("network", true, Kind::Network),
        f("disk-setup", true, Kind::Struct(&DISK_SETUP)),
        f("post-installation-webhook", false, Kind::Struct(&WEBHOOK)),
        f("first-boot", false, Kind::Struct(&FIRST_BOOT)),
    ],
    hints: &[
        ("general", "`[general]` is not part of the answer file (it comes from unofficial guides); country, keyboard, timezone, fqdn, mailto and the root password belong in `[global]`"),
        ("disk_setup", "section names were never snake_case: write `[disk-setup]`"),
        ("post_installation_webhook", "section names were never snake_case: write `[post-installation-webhook]`"),
        ("first_boot", "section names were never snake_case: write `[first-boot]`"),
        ("system", "`[system]` was dropped in installer 8.2.2: `root-ssh-keys` now lives in `[global]`"),
    ],
};

static GLOBAL: StructSchema = StructSchema {
    type_check: leaf::<GlobalOptions>,
    fields: &[
        f("country", true, Kind::Leaf(leaf::<String>)),
        f("fqdn", true, Kind::Leaf(leaf::<FqdnConfig>)),
        f("keyboard", true, Kind::Leaf(leaf::<KeyboardLayout>)),
        f("mailto", true, Kind::Leaf(leaf::<String>)),
        f("timezone", true, Kind::Leaf(leaf::<String>)),
        fa("root-password", &["root_password"], false, Kind::Leaf(leaf::<String>)),
        fa("root-password-hashed", &["root_password_hashed"], false, Kind::Leaf(leaf::<String>)),
        fa("reboot-on-error", &["reboot_on_error"], false, Kind::Leaf(leaf::<bool>)),
        fa("reboot-mode", &["reboot_mode"], false, Kind::Leaf(leaf::<RebootMode>)),
        fa("root-ssh-keys", &["root_ssh_keys"], false, Kind::Leaf(leaf::<Vec<String>>)),
        fa("subscription-key", &["subscription_key"], false, Kind::Leaf(leaf::<String>)),
    ],
    hints: &[
        ("password", "`password` was renamed in installer 8.2.2: use `root-password` (or `root-password-hashed`)"),
        ("keyboard_layout", "the key is `keyboard`"),
        ("hostname", "give the full name as `fqdn = \"host.example.com\"`"),
    ],
};

static PINNING: StructSchema = StructSchema {
    type_check: leaf::<NetworkInterfacePinningOptionsAnswer>,
    fields: &[
        f("enabled", true, Kind::Leaf(leaf::<bool>)),
        f("mapping", false, Kind::Leaf(leaf::<BTreeMap<String, String>>)),
    ],
    hints: &[],
};

static NET_DHCP: StructSchema = StructSchema {
    type_check: leaf::<NetworkConfigFromDhcp>,
    fields: &[f("interface-name-pinning", false, Kind::Struct(&PINNING))],
    hints: &[("interface_name_pinning", "the key is `interface-name-pinning` (no snake_case alias exists)")],
};

static NET_ANSWER: StructSchema = StructSchema {
    type_check: leaf::<NetworkConfigFromAnswer>,
    fields: &[
        f("cidr", true, Kind::Leaf(leaf::<super::net::Cidr>)),
        f("dns", true, Kind::Leaf(leaf::<std::net::IpAddr>)),
        f("gateway", true, Kind::Leaf(leaf::<std::net::IpAddr>)),
        f("filter", false, Kind::Leaf(leaf::<BTreeMap<String, String>>)),
        f("interface-name-pinning", false, Kind::Struct(&PINNING)),
    ],
    hints: &[("interface_name_pinning", "the key is `interface-name-pinning` (no snake_case alias exists)")],
};

static DISK_SETUP: StructSchema = StructSchema {
    type_check: leaf::<DiskSetup>,
    fields: &[
        f("filesystem", true, Kind::Leaf(leaf::<Filesystem>)),
        fa("disk-list", &["disk_list"], false, Kind::Leaf(leaf::<Vec<String>>)),
        f("filter", false, Kind::Leaf(leaf::<BTreeMap<String, String>>)),
        fa("filter-match", &["filter_match"], false, Kind::Leaf(leaf::<FilterMatch>)),
        f("zfs", false, Kind::Struct(&ZFS)),
        f("lvm", false, Kind::Struct(&LVM)),
        f("btrfs", false, Kind::Struct(&BTRFS)),
    ],
    hints: &[
        ("disk_device", "use `disk-list = [\"sda\"]` (device names, matched by suffix) or a `[disk-setup.filter]` table"),
        ("disk", "use `disk-list = [\"sda\"]`"),
        ("raid", "the RAID level goes into the filesystem's table: `zfs.raid = \"raid1\"` or `btrfs.raid = \"raid1\"`"),
    ],
};

static ZFS: StructSchema = StructSchema {
    type_check: leaf::<ZfsOptions>,
    fields: &[
        f("raid", false, Kind::Leaf(leaf::<ZfsRaidLevel>)),
        f("ashift", false, Kind::Leaf(leaf::<u32>)),
        fa("arc-max", &["arc_max"], false, Kind::Leaf(leaf::<u32>)),
        f("checksum", false, Kind::Leaf(leaf::<ZfsChecksumOption>)),
        f("compress", false, Kind::Leaf(leaf::<ZfsCompressOption>)),
        f("copies", false, Kind::Leaf(leaf::<u32>)),
        f("hdsize", false, Kind::Leaf(leaf::<f64>)),
    ],
    hints: &[],
};

static LVM: StructSchema = StructSchema {
    type_check: leaf::<LvmOptions>,
    fields: &[
        f("hdsize", false, Kind::Leaf(leaf::<f64>)),
        f("swapsize", false, Kind::Leaf(leaf::<f64>)),
        f("maxroot", false, Kind::Leaf(leaf::<f64>)),
        f("maxvz", false, Kind::Leaf(leaf::<f64>)),
        f("minfree", false, Kind::Leaf(leaf::<f64>)),
    ],
    hints: &[("maxfree", "there is no `maxfree`; the LVM option is `minfree`")],
};

static BTRFS: StructSchema = StructSchema {
    type_check: leaf::<BtrfsOptions>,
    fields: &[
        f("hdsize", false, Kind::Leaf(leaf::<f64>)),
        f("raid", false, Kind::Leaf(leaf::<BtrfsRaidLevel>)),
        f("compress", false, Kind::Leaf(leaf::<BtrfsCompressOption>)),
    ],
    hints: &[],
};

static WEBHOOK: StructSchema = StructSchema {
    type_check: leaf::<PostNotificationHookInfo>,
    fields: &[
        f("url", true, Kind::Leaf(leaf::<String>)),
        fa("cert-fingerprint", &["cert_fingerprint"], false, Kind::Leaf(leaf::<String>)),
        fa("auth-token", &["auth_token"], false, Kind::Leaf(leaf::<String>)),
    ],
    hints: &[],
};

static FIRST_BOOT: StructSchema = StructSchema {
    type_check: leaf::<FirstBootHookInfo>,
    fields: &[
        f("source", true, Kind::Leaf(leaf::<FirstBootHookSourceMode>)),
        f("ordering", false, Kind::Leaf(leaf::<FirstBootHookServiceOrdering>)),
        f("url", false, Kind::Leaf(leaf::<String>)),
        fa("cert-fingerprint", &["cert_fingerprint"], false, Kind::Leaf(leaf::<String>)),
    ],
    hints: &[
        ("script", "the executable is not given inline: embed it with `provision-iso prepare --first-boot FILE` (source = \"from-iso\") or serve it (source = \"from-url\", url = …)"),
        ("command", "the executable is not given inline: embed it with `provision-iso prepare --first-boot FILE` (source = \"from-iso\") or serve it (source = \"from-url\", url = …)"),
        ("path", "the executable is always `/proxmox-first-boot` on the ISO (source = \"from-iso\"); its path is not configurable"),
    ],
};

/// The tag of `[network]`, checked alone so its message is serde's.
#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum NetworkSource {
    FromDhcp,
    FromAnswer,
}

/// serde's `OneOf` rendering of expected names.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "there are no fields".into(),
        [a] => format!("expected `{a}`"),
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => format!("expected one of {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    }
}

pub(super) struct Walker<'a> {
    pub spans: &'a SpanIndex,
    pub problems: Vec<Problem>,
}

impl Walker<'_> {
    fn at(&self, span: Option<std::ops::Range<usize>>, fallback: (usize, usize)) -> (usize, usize) {
        span.map(|s| self.spans.line_col(s.start)).unwrap_or(fallback)
    }

    fn push(&mut self, pos: (usize, usize), message: String, hint: Option<String>) {
        self.problems.push(Problem { line: pos.0, col: pos.1, severity: Severity::Error, message, hint });
    }

    pub fn walk_root(&mut self, doc: &toml_edit::Table) {
        self.walk_struct(&ROOT, doc, (1, 1), &[]);
    }

    /// Check a table against `schema`; `pos` is where the table starts (for missing keys).
    fn walk_struct(&mut self, schema: &StructSchema, table: &dyn TableLike, pos: (usize, usize), skip: &[&str]) {
        let mut seen: Vec<Option<&str>> = vec![None; schema.fields.len()];
        for (key_str, item) in table.iter() {
            if skip.contains(&key_str) {
                continue;
            }
            let (key, _) = table.get_key_value(key_str).expect("key from iter");
            let key_pos = self.at(key.span(), pos);
            let Some(idx) =
                schema.fields.iter().position(|fd| fd.name == key_str || fd.aliases.contains(&key_str))
            else {
                let mut expected = Vec::new();
                for fd in schema.fields {
                    expected.push(fd.name);
                    expected.extend(fd.aliases.iter().copied());
                }
                let hint = schema
                    .hints
                    .iter()
                    .find(|(k, _)| *k == key_str)
                    .map(|(_, h)| h.to_string())
                    .or_else(|| {
                        let kebab = key_str.replace('_', "-");
                        (kebab != key_str && schema.fields.iter().any(|fd| fd.name == kebab))
                            .then(|| format!("this key has no snake_case alias: write `{kebab}`"))
                    });
                self.push(key_pos, format!("unknown field `{key_str}`, {}", one_of(&expected)), hint);
                continue;
            };
            let field = &schema.fields[idx];
            if let Some(first) = seen[idx] {
                self.push(
                    key_pos,
                    format!("duplicate field `{}`", field.name),
                    Some(format!("`{first}` and `{key_str}` are two spellings of the same key; keep one")),
                );
                continue;
            }
            seen[idx] = Some(key_str);
            self.walk_field(field, key, item, key_pos);
        }
        for (i, fd) in schema.fields.iter().enumerate() {
            if fd.required && seen[i].is_none() {
                self.push(pos, format!("missing field `{}`", fd.name), None);
            }
        }
    }

    fn walk_field(&mut self, field: &Field, key: &Key, item: &Item, key_pos: (usize, usize)) {
        let _ = key;
        let value_pos = self.at(item.span(), key_pos);
        match &field.kind {
            Kind::Leaf(check) => {
                if let Err(m) = check(&render_item(item)) {
                    self.push(value_pos, m, None);
                }
            }
            Kind::Struct(schema) => match item.as_table_like() {
                Some(t) => self.walk_struct(schema, t, table_pos(item).map(|s| self.spans.line_col(s)).unwrap_or(key_pos), &[]),
                None => {
                    if let Err(m) = (schema.type_check)(&render_item(item)) {
                        self.push(value_pos, m, None);
                    }
                }
            },
            Kind::Network => {
                let Some(t) = item.as_table_like() else {
                    if let Err(m) = leaf::<NetworkConfig>(&render_item(item)) {
                        self.push(value_pos, m, None);
                    }
                    return;
                };
                let tpos = table_pos(item).map(|s| self.spans.line_col(s)).unwrap_or(key_pos);
                let Some((skey, sval)) = t.get_key_value("source") else {
                    self.push(
                        tpos,
                        "missing field `source`".into(),
                        Some("since installer 9.2 `source` is required: `source = \"from-dhcp\"` or `source = \"from-answer\"`".into()),
                    );
                    return;
                };
                let spos = self.at(sval.span(), self.at(skey.span(), tpos));
                let schema = match sval.as_str() {
                    Some("from-dhcp") => &NET_DHCP,
                    Some("from-answer") => &NET_ANSWER,
                    _ => {
                        if let Err(m) = leaf::<NetworkSource>(&render_item(sval)) {
                            self.push(spos, m, None);
                        }
                        return;
                    }
                };
                self.walk_struct(schema, t, tpos, &["source"]);
            }
        }
    }
}

/// Start offset of a table (its header, or its first key when it has no header).
fn table_pos(item: &Item) -> Option<usize> {
    if let Some(s) = item.span() {
        return Some(s.start);
    }
    let t = item.as_table_like()?;
    t.iter().filter_map(|(k, _)| t.get_key_value(k).and_then(|(key, _)| key.span())).map(|s| s.start).min()
}

/// TOML text of one value, rebuilt from the parsed tree (comments and layout dropped), so a
/// single value can be handed to serde on its own.
pub(super) fn render_item(item: &Item) -> String {
    match item {
        Item::None => String::new(),
        Item::Value(v) => render_value(v),
        Item::Table(t) => render_table(t.iter()),
        Item::ArrayOfTables(a) => {
            format!("[{}]", a.iter().map(|t| render_table(t.iter())).collect::<Vec<_>>().join(", "))
        }
    }
}

fn render_table<'a>(it: impl Iterator<Item = (&'a str, &'a Item)>) -> String {
    let parts: Vec<String> =
        it.map(|(k, v)| format!("{} = {}", Value::from(k).to_string().trim(), render_item(v))).collect();
    format!("{{ {} }}", parts.join(", "))
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => Value::from(s.value().as_str()).to_string(),
        Value::Integer(i) => i.value().to_string(),
        Value::Float(x) => {
            let x = *x.value();
            if x.is_nan() {
                "nan".into()
            } else if x.is_infinite() {
                if x > 0.0 { "inf".into() } else { "-inf".into() }
            } else {
                let s = format!("{x:?}");
                if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
            }
        }
        Value::Boolean(b) => b.value().to_string(),
        Value::Datetime(d) => d.value().to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(render_value).collect::<Vec<_>>().join(", ")),
        Value::InlineTable(t) => {
            let parts: Vec<String> =
                t.iter().map(|(k, v)| format!("{} = {}", Value::from(k).to_string().trim(), render_value(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// `validate-answer`'s deprecation walk (§3.5): every key with `_` outside the free-form
/// `filter` tables gets a warning. The installer still accepts the aliased ones.
pub(super) fn snake_case_warnings(doc: &toml_edit::Table, spans: &SpanIndex) -> Vec<Problem> {
    let mut out = Vec::new();
    fn walk(t: &dyn TableLike, path: &str, spans: &SpanIndex, out: &mut Vec<Problem>) {
        for (k, item) in t.iter() {
            let child = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
            if k.contains('_') {
                let (line, col) =
                    t.get_key_value(k).and_then(|(key, _)| key.span()).map(|s| spans.line_col(s.start)).unwrap_or((1, 1));
                out.push(Problem {
                    line,
                    col,
                    severity: Severity::Warning,
                    message: format!(
                        "Section [{path}] contains deprecated key `{k}`, use `{}` instead.",
                        k.replace('_', "-")
                    ),
                    hint: None,
                });
            }
            if child == "network.filter" || child == "disk-setup.filter" {
                continue;
            }
            if let Some(sub) = item.as_table_like() {
                walk(sub, &child, spans, out);
            }
        }
    }
    walk(doc, "", spans, &mut out);
    out
}
