//! Rules for `[install]` (provision-iso: answer files, answer server, webhook).

use super::{secrets, Ctx};
use crate::inventory::names;
use crate::inventory::InstallNetwork;

/// `[first-boot] ordering` values of the Proxmox auto-installer (auto-install.md §2.8).
const ORDERINGS: &[&str] = &["before-network", "network-online", "fully-up"];

pub(super) fn check(cx: &mut Ctx) {
    let inv = cx.inv;
    let i = &inv.install;
    if let Some(r) = &i.root_password {
        secrets::secret_ref(cx, "install.root_password", r);
    }
    if let Some(r) = &i.token {
        secrets::secret_ref(cx, "install.token", r);
    }
    if let Some(url) = &i.answer_url {
        if let Err(e) = names::check_http_url(url) {
            cx.err("install.answer_url", format!("install.answer_url (the answer server's URL as the installer reaches it): {e}"));
        }
    }
    if let Some(o) = &i.first_boot_ordering {
        if !ORDERINGS.contains(&o.as_str()) {
            cx.err(
                "install.first_boot_ordering",
                format!("install.first_boot_ordering `{o}` is not one of {}; use one of them (the installer's [first-boot] ordering)", ORDERINGS.join(", ")),
            );
        }
    }
    if i.network == InstallNetwork::Static {
        let m = &inv.networks.mgmt;
        let mut missing = Vec::new();
        if m.gateway.is_none() {
            missing.push("networks.mgmt.gateway");
        }
        if m.dns.is_empty() {
            missing.push("networks.mgmt.dns");
        }
        if !missing.is_empty() {
            cx.err(
                "install.network",
                format!(
                    "install.network = \"static\" writes cidr, gateway and dns into the answer file, but {} is not set; add it or use install.network = \"dhcp\"",
                    missing.join(" and ")
                ),
            );
        }
    }
}
