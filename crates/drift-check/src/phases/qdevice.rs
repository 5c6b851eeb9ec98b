//! bootstrap-qdevice: the Pi's desired state ([`bootstrap_qdevice::desired`]): access
//! baseline, corosync-qnetd, and the root window *closed* — whose resources, when not in
//! state, mean a root-key window left open (unmanaged, see [`crate::classify`]).

use super::node::access_refine;
use super::{Context, BOOTSTRAP_QDEVICE};
use crate::batch::HostObservation;
use crate::classify;
use crate::model::HostResult;
use common::access::{HostKind, HostSpec};
use common::engine::Resource;
use std::collections::BTreeMap;

fn desired(ctx: &Context, host: &HostSpec) -> Vec<Box<dyn Resource>> {
    bootstrap_qdevice::desired(ctx.loaded, host, &ctx.keys)
}

pub fn probes(ctx: &Context, host: &HostSpec) -> Vec<(String, String)> {
    desired(ctx, host).iter().map(|r| (r.id(), r.probe())).collect()
}

/// Ids of the resources that keep the root window closed.
pub fn window_ids(ctx: &Context) -> Vec<String> {
    bootstrap_qdevice::closed_window(&ctx.loaded.inv, None).iter().map(|r| r.id()).collect()
}

pub fn evaluate(ctx: &Context, observed: &BTreeMap<String, HostObservation>, results: &mut BTreeMap<String, &mut HostResult>) {
    for host in ctx.hosts.iter().filter(|h| h.kind == HostKind::QDevice) {
        let (Some(obs), Some(r)) = (observed.get(&host.name), results.get_mut(&host.name)) else { continue };
        let mut refine = access_refine(ctx);
        refine.root_window_ids = window_ids(ctx);
        let (items, errors) = classify::evaluate(BOOTSTRAP_QDEVICE, &desired(ctx, host), obs.phase(BOOTSTRAP_QDEVICE), &refine);
        r.drift.extend(items);
        r.errors.extend(errors);
    }
}
