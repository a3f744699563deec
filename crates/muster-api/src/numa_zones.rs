//! The `muster.dev/numa-zones` pod annotation: which NUMA zones of its node a pod's resources
//! come from, and how much from each.
//!
//! The value is a JSON object from zone name (the NodeResourceTopology zone, `node-N`) to a
//! resource list, quantities in Kubernetes syntax (strings, or plain JSON numbers):
//!
//! ```text
//! muster.dev/numa-zones: '{"node-0":{"cpu":"4","memory":"8Gi","nvidia.com/gpu":"2"},"node-1":{"memory":"8Gi"}}'
//! ```
//!
//! Who writes it: Muster's controller, for the pods it places on a node with zones (it knows
//! which zones it counted them in); or anyone who pins pods by hand. Who reads it: the node
//! agent (`muster agent`), which charges an annotated pod to exactly these zones when it
//! computes each zone's `available`; resources the pod requests that the annotation does not
//! name are charged as for a pod without it (see the agent's `available` module).
//!
//! This module is the one definition of the format: [`NumaZones::parse`] and
//! [`NumaZones::to_annotation`] are each other's inverse.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use muster_core::Quantity;

use crate::objects::Qty;

/// The annotation's name.
pub const NUMA_ZONES_ANNOTATION: &str = "muster.dev/numa-zones";

/// The NodeResourceTopology attribute in which the node agent says which of Muster's pods
/// its `available` figures count: a fingerprint of them (see [`pods_fingerprint`]). When it
/// equals the fingerprint of the pods Muster knows are bound to the node, the report is up to
/// date with Muster's binds, and Muster takes the node's reported zone usage as the truth
/// (the way the scheduler-plugins' NodeResourceTopology cache resyncs on NFD's
/// `nodeTopologyPodsFingerprint`).
pub const PODS_FINGERPRINT_ATTRIBUTE: &str = "musterPodsFingerprint";

/// Whether a pod counts in `node`'s fingerprint: bound to it, scheduled by `scheduler`, and
/// not finished (its resources are held until it is).
pub fn in_fingerprint(pod: &Pod, node: &str, scheduler: &str) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    spec.node_name.as_deref() == Some(node)
        && spec.scheduler_name.as_deref() == Some(scheduler)
        && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// The fingerprint of the pods of `pods` that count for `node` (see [`in_fingerprint`]):
/// `mpf1-` and 16 hex digits of a 64-bit FNV-1a hash of their sorted `namespace/name`s.
/// The same set of pods gives the same fingerprint in any order.
pub fn pods_fingerprint<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node: &str,
    scheduler: &str,
) -> String {
    let mut names: Vec<String> = pods
        .into_iter()
        .filter(|p| in_fingerprint(p, node, scheduler))
        .map(|p| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names.dedup();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in &names {
        for b in name.bytes().chain([b'\n']) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("mpf1-{hash:016x}")
}

/// What a pod holds in each NUMA zone of its node: zone name → resource name → amount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaZones(pub BTreeMap<String, BTreeMap<String, Quantity>>);

/// Why an annotation value is not a valid `muster.dev/numa-zones`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NumaZonesError {
    /// The value is not a JSON object of objects of quantities.
    #[error("not a JSON object of zones to resource lists: {0}")]
    Syntax(String),
    /// A zone or resource name is empty.
    #[error("empty {0} name")]
    EmptyName(&'static str),
    /// A quantity is negative.
    #[error("zone {zone:?}: {resource}: must not be negative, got {value}")]
    Negative {
        /// The zone.
        zone: String,
        /// The resource.
        resource: String,
        /// The amount.
        value: Quantity,
    },
}

impl NumaZones {
    /// Reads an annotation value.
    pub fn parse(text: &str) -> Result<NumaZones, NumaZonesError> {
        let raw: BTreeMap<String, BTreeMap<String, Qty>> =
            serde_json::from_str(text).map_err(|e| NumaZonesError::Syntax(e.to_string()))?;
        let mut out = BTreeMap::new();
        for (zone, resources) in raw {
            if zone.is_empty() {
                return Err(NumaZonesError::EmptyName("zone"));
            }
            let mut list = BTreeMap::new();
            for (resource, Qty(value)) in resources {
                if resource.is_empty() {
                    return Err(NumaZonesError::EmptyName("resource"));
                }
                if value.is_negative() {
                    return Err(NumaZonesError::Negative {
                        zone,
                        resource,
                        value,
                    });
                }
                list.insert(resource, value);
            }
            out.insert(zone, list);
        }
        Ok(NumaZones(out))
    }

    /// The annotation value: compact JSON, zones and resources in name order, quantities as
    /// strings.
    pub fn to_annotation(&self) -> String {
        let value: BTreeMap<&str, BTreeMap<&str, String>> = self
            .0
            .iter()
            .map(|(zone, list)| {
                (
                    zone.as_str(),
                    list.iter()
                        .map(|(r, q)| (r.as_str(), q.to_string()))
                        .collect(),
                )
            })
            .collect();
        serde_json::to_string(&value).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn the_annotation_reads_and_writes_the_same_value() {
        let text = r#"{"node-0":{"cpu":"4","memory":"8Gi"},"node-1":{"nvidia.com/gpu":2}}"#;
        let z = NumaZones::parse(text).unwrap();
        assert_eq!(z.0["node-0"]["cpu"], q("4"));
        assert_eq!(z.0["node-0"]["memory"], q("8Gi"));
        assert_eq!(z.0["node-1"]["nvidia.com/gpu"], q("2"), "a plain number");
        assert_eq!(
            z.to_annotation(),
            r#"{"node-0":{"cpu":"4","memory":"8Gi"},"node-1":{"nvidia.com/gpu":"2"}}"#
        );
        assert_eq!(NumaZones::parse(&z.to_annotation()).unwrap(), z);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let e = |t: &str| NumaZones::parse(t).unwrap_err().to_string();
        assert!(
            e("node-0").starts_with("not a JSON object"),
            "{}",
            e("node-0")
        );
        assert!(e(r#"{"node-0":{"cpu":"four"}}"#).contains("quantity"));
        assert_eq!(e(r#"{"":{"cpu":"1"}}"#), "empty zone name");
        assert_eq!(
            e(r#"{"node-0":{"cpu":"-1"}}"#),
            "zone \"node-0\": cpu: must not be negative, got -1"
        );
    }

    fn pod(ns: &str, name: &str, node: &str, scheduler: &str, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"containers": [], "nodeName": node, "schedulerName": scheduler},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn the_fingerprint_is_of_the_set_of_running_muster_pods_of_the_node() {
        let a = pod("ns", "a", "n1", "muster", "Running");
        let b = pod("ns", "b", "n1", "muster", "Pending");
        let fp = pods_fingerprint([&a, &b], "n1", "muster");
        assert!(fp.starts_with("mpf1-") && fp.len() == 21, "{fp}");
        assert_eq!(fp, pods_fingerprint([&b, &a], "n1", "muster"), "any order");
        // Pods of other nodes, other schedulers, and finished pods do not count.
        let others = [
            pod("ns", "c", "n2", "muster", "Running"),
            pod("ns", "d", "n1", "default-scheduler", "Running"),
            pod("ns", "e", "n1", "muster", "Succeeded"),
        ];
        assert_eq!(
            fp,
            pods_fingerprint([&a, &b].into_iter().chain(&others), "n1", "muster")
        );
        // Another set gives another fingerprint.
        assert_ne!(fp, pods_fingerprint([&a], "n1", "muster"));
        assert_ne!(
            pods_fingerprint(
                [&pod("ns", "ab", "n1", "muster", "Running")],
                "n1",
                "muster"
            ),
            pods_fingerprint(
                [&a, &pod("ns", "b", "n1", "muster", "Running")],
                "n1",
                "muster"
            ),
            "names are separated"
        );
    }
}
