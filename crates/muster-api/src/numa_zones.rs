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

use muster_core::Quantity;

use crate::objects::Qty;

/// The annotation's name.
pub const NUMA_ZONES_ANNOTATION: &str = "muster.dev/numa-zones";

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
}
