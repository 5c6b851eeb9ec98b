//! bootstrap-node: the node's whole desired state ([`bootstrap_node::desired`]) — sources,
//! access baseline, packages, sshd hardening, identity, completion marker — evaluated as is.

use super::{Context, BOOTSTRAP_NODE};
use crate::batch::HostObservation;
use crate::classify::{self, Refine};
use crate::model::HostResult;
use anyhow::Result;
use common::access::{HostKind, HostSpec};
use common::engine::Resource;
use std::collections::BTreeMap;

fn desired(ctx: &Context, host: &HostSpec) -> Result<Vec<Box<dyn Resource>>> {
    bootstrap_node::desired(ctx.loaded, host, &ctx.keys, &bootstrap_node::Options::default())
}

pub fn probes(ctx: &Context, host: &HostSpec) -> Result<Vec<(String, String)>> {
    Ok(desired(ctx, host)?.iter().map(|r| (r.id(), r.probe())).collect())
}

/// The refinements every host with the access baseline shares: the automation user's keys.
pub fn access_refine(ctx: &Context) -> Refine {
    let user = &ctx.loaded.inv.automation.user;
    Refine { authorized_keys: Some((format!("/home/{user}/.ssh/authorized_keys"), ctx.keys.clone())), ..Default::default() }
}

pub fn evaluate(ctx: &Context, observed: &BTreeMap<String, HostObservation>, results: &mut BTreeMap<String, &mut HostResult>) {
    for host in ctx.hosts.iter().filter(|h| h.kind == HostKind::Node) {
        let (Some(obs), Some(r)) = (observed.get(&host.name), results.get_mut(&host.name)) else { continue };
        match desired(ctx, host) {
            Ok(rs) => {
                let (items, errors) = classify::evaluate(BOOTSTRAP_NODE, &rs, obs.phase(BOOTSTRAP_NODE), &access_refine(ctx));
                r.drift.extend(items);
                r.errors.extend(errors);
            }
            Err(e) => r.errors.push(format!("{BOOTSTRAP_NODE}: {e:#}")),
        }
    }
}
