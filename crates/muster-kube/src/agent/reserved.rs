//! What the kubelet keeps from pods on each NUMA node, given to the agent in the kubelet's
//! own flag shapes so that a zone's allocatable is what the kubelet's managers will hand out:
//!
//! - `--reserved-cpus 0,32`: a CPU list (the kubelet's `--reserved-cpus`, what its static CPU
//!   manager never gives a container); each CPU is taken from the zone it belongs to.
//! - `--reserved-memory 0:memory=1Gi,hugepages-1Gi=2Gi` (repeatable, or several NUMA nodes
//!   joined by `;`): the kubelet's `--reserved-memory`, what its memory manager keeps on each
//!   NUMA node.

use std::collections::BTreeMap;

use muster_core::Quantity;

use super::cpulist::{CpuListError, CpuSet};

/// What the kubelet reserves, per NUMA node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reserved {
    /// Reserved CPUs.
    pub cpus: CpuSet,
    /// NUMA node number → resource (`memory`, `hugepages-<size>`) → amount reserved.
    pub memory: BTreeMap<u32, BTreeMap<String, Quantity>>,
}

/// A reservation flag that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReservedError {
    /// `--reserved-cpus` is not a CPU list.
    #[error("--reserved-cpus: {0}")]
    Cpus(#[from] CpuListError),
    /// A `--reserved-memory` value is not `N:resource=quantity[,resource=quantity...]`.
    #[error("--reserved-memory {value:?}: {what}")]
    Memory {
        /// The value (one NUMA node's part).
        value: String,
        /// What is wrong.
        what: String,
    },
}

impl Reserved {
    /// Reads the flags: `cpus` as `--reserved-cpus` (empty: none), `memory` as each
    /// `--reserved-memory`.
    pub fn parse(cpus: &str, memory: &[String]) -> Result<Reserved, ReservedError> {
        let mut out = Reserved {
            cpus: CpuSet::parse(cpus)?,
            memory: BTreeMap::new(),
        };
        for flag in memory {
            for value in flag.split(';').map(str::trim).filter(|v| !v.is_empty()) {
                let bad = |what: &str| ReservedError::Memory {
                    value: value.to_string(),
                    what: what.to_string(),
                };
                let (node, list) = value
                    .split_once(':')
                    .ok_or_else(|| bad("expected N:memory=QUANTITY"))?;
                let node: u32 = node
                    .trim()
                    .parse()
                    .map_err(|_| bad(&format!("{:?} is not a NUMA node number", node.trim())))?;
                let entry = out.memory.entry(node).or_default();
                for item in list.split(',') {
                    let (resource, q) = item
                        .split_once('=')
                        .ok_or_else(|| bad(&format!("{item:?} is not resource=quantity")))?;
                    let resource = resource.trim();
                    if resource != "memory" && !resource.starts_with("hugepages-") {
                        return Err(bad(&format!(
                            "{resource:?}: only memory and hugepages-<size> are reserved per NUMA node"
                        )));
                    }
                    let q =
                        Quantity::parse(q.trim()).map_err(|e| bad(&format!("{resource}: {e}")))?;
                    if q.is_negative() {
                        return Err(bad(&format!("{resource}: must not be negative")));
                    }
                    if entry.insert(resource.to_string(), q).is_some() {
                        return Err(bad(&format!(
                            "{resource} is reserved twice on NUMA node {node}"
                        )));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn the_kubelets_flag_shapes_are_read() {
        let r = Reserved::parse(
            "0,32",
            &[
                "0:memory=1Gi,hugepages-1Gi=2Gi".into(),
                "1:memory=512Mi;2:memory=1Gi".into(),
            ],
        )
        .unwrap();
        assert_eq!(r.cpus.to_string(), "0,32");
        assert_eq!(r.memory[&0]["memory"], q("1Gi"));
        assert_eq!(r.memory[&0]["hugepages-1Gi"], q("2Gi"));
        assert_eq!(r.memory[&1]["memory"], q("512Mi"));
        assert_eq!(r.memory[&2]["memory"], q("1Gi"));
        assert_eq!(Reserved::parse("", &[]).unwrap(), Reserved::default());
    }

    #[test]
    fn bad_reservations_say_which_value_and_why() {
        let e = |cpus: &str, m: &str| {
            Reserved::parse(cpus, &[m.to_string()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("0-", ""),
            "--reserved-cpus: cpu list \"0-\": \"0-\" is not a cpu number or a range a-b"
        );
        assert_eq!(
            e("", "memory=1Gi"),
            "--reserved-memory \"memory=1Gi\": expected N:memory=QUANTITY"
        );
        assert_eq!(
            e("", "x:memory=1Gi"),
            "--reserved-memory \"x:memory=1Gi\": \"x\" is not a NUMA node number"
        );
        assert_eq!(
            e("", "0:cpu=1"),
            "--reserved-memory \"0:cpu=1\": \"cpu\": only memory and hugepages-<size> are reserved per NUMA node"
        );
        assert!(
            e("", "0:memory=lots").starts_with("--reserved-memory \"0:memory=lots\": memory: ")
        );
        assert_eq!(
            e("", "0:memory=-1Gi"),
            "--reserved-memory \"0:memory=-1Gi\": memory: must not be negative"
        );
        assert_eq!(
            e("", "0:memory=1Gi,memory=2Gi"),
            "--reserved-memory \"0:memory=1Gi,memory=2Gi\": memory is reserved twice on NUMA node 0"
        );
    }
}
