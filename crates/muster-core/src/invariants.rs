//! The model's invariants, checked from scratch.
//!
//! The cycle keeps usage incrementally; this module recounts everything from the admitted
//! workloads and checks the rules no decision may break. Tests (unit, property, simulator)
//! call [`check`] after every change; production code never needs to.
//!
//! - Usage: node allocations and quota usage equal a full recount.
//! - Nodes: no node has more allocated than allocatable, for any resource; no NUMA zone
//!   holds more than its allocatable (the kubelet never gives more than a zone has).
//! - Quota: no ClusterQueue or cohort uses more than it could ever reach or more than its
//!   subtree quota plus its borrowing limit; no root cohort lends more than it holds; and no
//!   lender is over its lending limit (its unused guaranteed part is still available to it).
//! - Gangs: every admitted workload has a node for every pod, or it is not admitted.
//! - Queues: a workload is in its queue's pending set iff it is pending, and in its admitted
//!   set iff it is admitted.

use crate::ids::{NodeId, QuotaNodeId};
use crate::model::{Model, WorkloadState};
use crate::quantity::Quantity;
use crate::usage::Scratch;

/// Checks every invariant; the error says which one broke and where.
pub fn check(model: &Model) -> Result<(), String> {
    model.usage().check_indexes()?;
    let mut recount = Scratch::new(model.usage().empty_like());
    for (i, w) in model.workloads().iter().enumerate() {
        let id = crate::ids::WorkloadId(i as u32);
        let queue = model.queue(w.cq);
        let in_pending = queue.pending.iter().any(|k| k.id == id);
        let in_admitted = queue.admitted.contains(&id);
        match &w.state {
            WorkloadState::Pending => {
                if !in_pending || in_admitted {
                    return Err(format!("{}: pending but not queued as pending", w.key));
                }
            }
            WorkloadState::Admitted { admission, .. } => {
                if in_pending || !in_admitted {
                    return Err(format!("{}: admitted but not queued as admitted", w.key));
                }
                let pods: u32 = model.shape_of(id).pod_sets.iter().map(|p| p.count).sum();
                if admission.placements.len() != pods as usize {
                    return Err(format!(
                        "{}: gang broken: {} of {} pods placed",
                        w.key,
                        admission.placements.len(),
                        pods
                    ));
                }
                model.charge_into(&mut recount, admission, 1);
            }
            WorkloadState::Finished => {
                if in_pending || in_admitted {
                    return Err(format!("{}: finished but still queued", w.key));
                }
            }
        }
    }
    let recount = recount.into_usage();
    if recount.node_alloc != model.usage().node_alloc {
        return Err("node allocations differ from a recount".into());
    }
    if recount.quota != model.usage().quota {
        return Err("quota usage differs from a recount".into());
    }
    if recount.zone_alloc != model.usage().zone_alloc {
        return Err("NUMA zone holdings differ from a recount".into());
    }

    let resources = model.resources();
    for (n, node) in model.nodes().iter().enumerate() {
        for r in resources.ids() {
            let id = NodeId(n as u32);
            let (alloc, cap) = (model.allocated(id, r), model.allocatable(id, r));
            if alloc > cap {
                return Err(format!(
                    "node {} over allocatable: {} {} of {}",
                    node.name,
                    alloc,
                    resources.name(r),
                    cap
                ));
            }
            if alloc < Quantity::ZERO {
                return Err(format!(
                    "node {} has negative {}",
                    node.name,
                    resources.name(r)
                ));
            }
        }
    }

    let zones = model.zones();
    for (n, node) in model.nodes().iter().enumerate() {
        for z in zones.of_node(NodeId(n as u32)) {
            for r in resources.ids() {
                let held = model.usage().zone_alloc()[zones.cell(z, r)];
                if held > zones.capacity(z, r) || held < Quantity::ZERO {
                    return Err(format!(
                        "node {} zone {} holds {} {} of {}",
                        node.name,
                        zones.name(z),
                        held,
                        resources.name(r),
                        zones.capacity(z, r)
                    ));
                }
            }
        }
    }

    let tree = model.quota();
    let s = model.scratch();
    for (i, qn) in tree.nodes().iter().enumerate() {
        let n = QuotaNodeId(i as u32);
        for f in 0..tree.fr_count() {
            let fr = crate::ids::FrId(f as u32);
            let usage = tree.usage(&s, n, fr);
            let what = || model.describe_fr(fr);
            if usage > tree.potential(n, fr) {
                return Err(format!(
                    "{} uses {} {} but can reach at most {}",
                    qn.name,
                    usage,
                    what(),
                    tree.potential(n, fr)
                ));
            }
            if let Some(bl) = tree.limits(n, fr).borrowing_limit
                && usage > tree.subtree(n, fr) + bl
            {
                return Err(format!(
                    "{} borrows {} beyond its borrowing limit",
                    qn.name,
                    what()
                ));
            }
            if qn.parent.is_none() && usage > tree.subtree(n, fr) {
                return Err(format!(
                    "cohort {} lends more {} than it holds",
                    qn.name,
                    what()
                ));
            }
            // A lending limit keeps part of the quota home: whatever others borrow, the
            // unused guaranteed part stays available to its owner.
            let unused_guaranteed = (tree.guaranteed(n, fr) - usage).clamp_non_negative();
            if qn.parent.is_some() && tree.available(&s, n, fr) < unused_guaranteed {
                return Err(format!(
                    "{} lent out more {} than its lending limit allows",
                    qn.name,
                    what()
                ));
            }
        }
    }
    Ok(())
}
