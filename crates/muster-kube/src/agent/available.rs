//! What the pods bound to the node hold in each zone, and so what each zone has available:
//! its allocatable less what its pods hold.
//!
//! The kubelet knows exactly which CPUs, memory and devices each container got, and tells
//! through its pod-resources socket; the agent does not read that socket yet. It charges
//! pods from the API instead, by these rules:
//!
//! 1. A pod counts while it is bound to the node and not terminal (phase neither `Succeeded`
//!    nor `Failed`): a pod being deleted still holds what it has until it is gone. What it
//!    holds is its effective request, by the rules kube-scheduler and Muster's core use
//!    ([`muster_api::pod::pod_requests`]; pod overhead not counted), resources no zone has
//!    (`pods`, `ephemeral-storage`) ignored.
//! 2. A pod annotated `muster.dev/numa-zones` ([`muster_api::numa_zones`]) holds exactly the
//!    amounts the annotation gives, in the zones it names. Resources the pod requests that
//!    the annotation does not name, and amounts it puts in a zone the node does not have or
//!    that lacks the resource, are charged as for a pod without it. A value that cannot be
//!    read is reported and the pod is charged as if it had none.
//! 3. A pod without it is charged, resource by resource, to the zone with the most of that
//!    resource still available, spilling to the next when one zone does not have enough
//!    (ties go to the lower zone). This is a guess — the kubelet may have put the pod
//!    elsewhere, and does not pin Burstable pods' cpu at all — but it keeps the node's total
//!    right, and it is the cautious guess for a NUMA-aware scheduler: it shrinks the largest
//!    free block, so it never promises a single zone room it may not have.
//!
//! What annotations say is charged first, then every guess, pod by pod in name order, so a
//! guess never takes what an annotation says is taken and the result does not depend on the
//! order the pods were listed in. A zone whose pods hold more than its allocatable has 0
//! available, and a note says so.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use muster_api::numa_zones::{NUMA_ZONES_ANNOTATION, NumaZones};
use muster_core::Quantity;

use super::inventory::Inventory;

/// A pod as the agent charges it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    /// `namespace/name`.
    pub pod: String,
    /// Its effective request.
    pub requests: BTreeMap<String, Quantity>,
    /// Its `muster.dev/numa-zones` annotation, when it has a readable one.
    pub pinned: Option<NumaZones>,
}

/// Each zone's available amounts, and what the agent should report about how they were
/// reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Charged {
    /// Zone name → resource → available (never negative).
    pub available: BTreeMap<String, BTreeMap<String, Quantity>>,
    /// Problems worth a log line: unreadable annotations, unknown zones, over-committed zones.
    pub notes: Vec<String>,
}

/// Whether a pod has finished for good (it then holds nothing).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The pods among `pods` that hold resources on `node`, as holders, in name order; problems
/// reading them go to `notes`.
pub fn holders<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node: &str,
    notes: &mut Vec<String>,
) -> Vec<Holder> {
    let source = muster_api::load::Source {
        file: muster_api::load::API_SOURCE.into(),
        doc: None,
    };
    let mut out = Vec::new();
    for pod in pods {
        let Some(spec) = &pod.spec else { continue };
        if spec.node_name.as_deref() != Some(node) || is_terminal(pod) {
            continue;
        }
        let key = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        let mut errors = Vec::new();
        let mut cx = muster_api::validate::Ctx::new(&source, format!("Pod {key:?}"), &mut errors);
        let requests = muster_api::pod::pod_requests(
            spec,
            &muster_api::yaml::Path::root().key("spec"),
            &mut cx,
        )
        .effective;
        notes.extend(errors.iter().map(|e| e.to_string()));
        let pinned = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NUMA_ZONES_ANNOTATION))
            .and_then(|text| match NumaZones::parse(text) {
                Ok(z) => Some(z),
                Err(e) => {
                    notes.push(format!(
                        "pod {key}: annotation {NUMA_ZONES_ANNOTATION}: {e}; charged as if it had none"
                    ));
                    None
                }
            });
        out.push(Holder {
            pod: key,
            requests,
            pinned,
        });
    }
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

/// Free amounts per zone while charging, zones in inventory order.
struct Ledger<'a> {
    zones: Vec<(&'a str, BTreeMap<String, Quantity>)>,
}

impl Ledger<'_> {
    fn zone(&mut self, name: &str) -> Option<&mut BTreeMap<String, Quantity>> {
        self.zones
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
    }

    /// Charges `amount` of `resource` to the zones with the most of it free (rule 3).
    fn spread(&mut self, resource: &str, amount: Quantity) {
        let mut left = amount;
        while left > Quantity::ZERO {
            // The most free; the lowest zone among equals.
            let mut best: Option<&mut Quantity> = None;
            for (_, free) in &mut self.zones {
                if let Some(f) = free.get_mut(resource)
                    && best.as_ref().is_none_or(|b| *f > **b)
                {
                    best = Some(f);
                }
            }
            let Some(free) = best else {
                return; // No zone has this resource.
            };
            let take = if *free > Quantity::ZERO && *free < left {
                *free
            } else {
                left // All of it, or (nothing free anywhere) over-commit the roomiest zone.
            };
            *free -= take;
            left -= take;
        }
    }
}

/// Each zone's available amounts: `inventory`'s allocatable less what `holders` (in name
/// order, as [`holders`] gives them) hold.
pub fn available(inventory: &Inventory, holders: &[Holder]) -> Charged {
    let mut ledger = Ledger {
        zones: inventory
            .zones
            .iter()
            .map(|z| (z.name.as_str(), z.allocatable.clone()))
            .collect(),
    };
    let mut notes = Vec::new();
    // First what annotations say, then every guess: a guess never takes what an annotation
    // says is taken.
    let mut guesses = Vec::new();
    for h in holders {
        let mut rest = h.requests.clone();
        if let Some(zones) = &h.pinned {
            let named: Vec<&String> = zones.0.values().flat_map(|l| l.keys()).collect();
            rest.retain(|r, _| !named.contains(&r));
            for (zone, list) in &zones.0 {
                let Some(free) = ledger.zone(zone) else {
                    notes.push(format!(
                        "pod {}: annotation {NUMA_ZONES_ANNOTATION} names zone {zone}, which this node does not have; its amounts there are charged as for a pod without it",
                        h.pod
                    ));
                    for (r, q) in list {
                        *rest.entry(r.clone()).or_default() += *q;
                    }
                    continue;
                };
                for (r, q) in list {
                    match free.get_mut(r) {
                        Some(f) => *f -= *q,
                        None => *rest.entry(r.clone()).or_default() += *q,
                    }
                }
            }
        }
        guesses.push(rest);
    }
    for rest in guesses {
        for (r, q) in rest {
            ledger.spread(&r, q);
        }
    }
    let mut out = Charged::default();
    for (zone, free) in ledger.zones {
        let mut list = BTreeMap::new();
        for (r, q) in free {
            if q.is_negative() {
                notes.push(format!(
                    "zone {zone}: pods hold {} of {r} more than it can give; available is 0",
                    -q
                ));
            }
            list.insert(r, q.clamp_non_negative());
        }
        out.available.insert(zone.to_string(), list);
    }
    out.notes = notes;
    out
}
