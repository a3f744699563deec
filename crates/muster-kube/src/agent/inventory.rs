//! What each zone has: per resource, its capacity and its allocatable, from the NUMA nodes and
//! devices sysfs describes and what the kubelet reserves.
//!
//! A NUMA node `N` is the zone `node-N`. Its resources, each listed only when the zone has
//! some of it:
//!
//! | resource | capacity | allocatable |
//! |---|---|---|
//! | `cpu` | its CPUs | less the `--reserved-cpus` among them |
//! | `memory` | its `MemTotal` (huge pages included, as the node's capacity counts them) | less its huge pages and its `--reserved-memory`, as the kubelet's memory manager counts |
//! | `hugepages-<size>` (`hugepages-2Mi`, `hugepages-1Gi`) | pages × size, in bytes | less its `--reserved-memory` of that size |
//! | GPUs, RDMA adapters (names from [`DeviceNames`]) | the devices whose `numa_node` is `N` | the same |
//!
//! A device whose firmware gives no NUMA node (or a node that is not one of the zones) is in
//! no zone: it is counted in [`Inventory::node_capacity`] only, and listed in
//! [`Inventory::outside_zones`] for the agent to report.

use std::collections::BTreeMap;

use muster_core::Quantity;

use super::pci::{DeviceNames, PciDevice};
use super::reserved::Reserved;
use super::sysfs::NumaNodes;

/// The zone name of NUMA node `id` (the community's and the kubelet's `node-N`).
pub fn zone_name(id: u32) -> String {
    format!("node-{id}")
}

/// The resource name of huge pages of `size_bytes` (`hugepages-2Mi`), as Kubernetes names
/// them: the size in its largest exact binary unit.
pub fn hugepage_resource(size_bytes: u64) -> String {
    const UNITS: [(u32, &str); 3] = [(30, "Gi"), (20, "Mi"), (10, "Ki")];
    for (shift, unit) in UNITS {
        if size_bytes >= 1 << shift && size_bytes.is_multiple_of(1 << shift) {
            return format!("hugepages-{}{unit}", size_bytes >> shift);
        }
    }
    format!("hugepages-{size_bytes}")
}

fn bytes(n: u64) -> Quantity {
    Quantity::from_milli(i128::from(n) * 1000)
}

fn count(n: usize) -> Quantity {
    Quantity::from_milli(n as i128 * 1000)
}

/// One zone's resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneInventory {
    /// Its name, `node-N`.
    pub name: String,
    /// Resource → capacity.
    pub capacity: BTreeMap<String, Quantity>,
    /// Resource → allocatable (never above capacity, never negative).
    pub allocatable: BTreeMap<String, Quantity>,
    /// Distance to each zone (by name), from the kernel's table; empty when it gives none.
    pub costs: Vec<(String, u32)>,
}

/// Every zone of the node, and the devices in none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The zones, in NUMA node order.
    pub zones: Vec<ZoneInventory>,
    /// Counted devices that belong to no zone.
    pub outside_zones: Vec<PciDevice>,
}

/// A reservation that does not fit the machine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    /// A reserved CPU is not one of the machine's.
    #[error("--reserved-cpus: cpu {cpu} is not on this machine (its cpus: {online})")]
    UnknownCpu {
        /// The CPU.
        cpu: u32,
        /// The machine's CPUs.
        online: String,
    },
    /// Memory is reserved on a NUMA node the machine does not have.
    #[error("--reserved-memory: NUMA node {node} is not on this machine (its zones: {zones})")]
    UnknownNode {
        /// The node number.
        node: u32,
        /// The machine's zones.
        zones: String,
    },
    /// More is reserved than the zone has.
    #[error(
        "--reserved-memory: {resource} of NUMA node {node}: {reserved} reserved, but only {allocatable} can be"
    )]
    TooMuch {
        /// The node number.
        node: u32,
        /// The resource.
        resource: String,
        /// What was reserved.
        reserved: Quantity,
        /// What the zone has before the reservation.
        allocatable: Quantity,
    },
}

impl Inventory {
    /// The zones of `nodes` with `devices` placed in them, less `reserved`; devices are named
    /// by `names`.
    pub fn build(
        nodes: &NumaNodes,
        devices: &[PciDevice],
        names: &DeviceNames,
        reserved: &Reserved,
    ) -> Result<Inventory, InventoryError> {
        let online = nodes
            .nodes
            .iter()
            .fold(super::cpulist::CpuSet::default(), |mut all, n| {
                all.0.extend(n.cpus.0.iter().copied());
                all
            });
        if let Some(cpu) = reserved.cpus.difference(&online).0.first() {
            return Err(InventoryError::UnknownCpu {
                cpu: *cpu,
                online: online.to_string(),
            });
        }
        let zone_list = || {
            nodes
                .nodes
                .iter()
                .map(|n| zone_name(n.id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(node) = reserved
            .memory
            .keys()
            .find(|id| !nodes.nodes.iter().any(|n| n.id == **id))
        {
            return Err(InventoryError::UnknownNode {
                node: *node,
                zones: zone_list(),
            });
        }

        let mut inventory = Inventory::default();
        for n in &nodes.nodes {
            let mut zone = ZoneInventory {
                name: zone_name(n.id),
                ..ZoneInventory::default()
            };
            if !n.cpus.is_empty() {
                zone.capacity.insert("cpu".into(), count(n.cpus.len()));
                let free = n.cpus.difference(&reserved.cpus);
                zone.allocatable.insert("cpu".into(), count(free.len()));
            }
            let mut hugepage_bytes = 0u64;
            for (&size, &pages) in &n.hugepages {
                if pages == 0 {
                    continue;
                }
                let total = size.saturating_mul(pages);
                hugepage_bytes = hugepage_bytes.saturating_add(total);
                let name = hugepage_resource(size);
                zone.capacity.insert(name.clone(), bytes(total));
                zone.allocatable.insert(name, bytes(total));
            }
            if n.memory_bytes > 0 {
                zone.capacity.insert("memory".into(), bytes(n.memory_bytes));
                zone.allocatable.insert(
                    "memory".into(),
                    bytes(n.memory_bytes.saturating_sub(hugepage_bytes)),
                );
            }
            for d in devices.iter().filter(|d| d.numa_node == Some(n.id)) {
                let name = names.of(d.kind).to_string();
                for list in [&mut zone.capacity, &mut zone.allocatable] {
                    *list.entry(name.clone()).or_default() += count(1);
                }
            }
            for (resource, &amount) in reserved.memory.get(&n.id).into_iter().flatten() {
                let have = zone
                    .allocatable
                    .get(resource)
                    .copied()
                    .unwrap_or(Quantity::ZERO);
                if amount > have {
                    return Err(InventoryError::TooMuch {
                        node: n.id,
                        resource: resource.clone(),
                        reserved: amount,
                        allocatable: have,
                    });
                }
                if let Some(a) = zone.allocatable.get_mut(resource) {
                    *a -= amount;
                }
            }
            zone.costs = nodes
                .nodes
                .iter()
                .zip(&n.distances)
                .map(|(other, d)| (zone_name(other.id), *d))
                .collect();
            inventory.zones.push(zone);
        }
        inventory.outside_zones = devices
            .iter()
            .filter(|d| {
                d.numa_node
                    .is_none_or(|id| !nodes.nodes.iter().any(|n| n.id == id))
            })
            .cloned()
            .collect();
        Ok(inventory)
    }

    /// The node's capacity: its zones' summed, plus the devices in no zone.
    pub fn node_capacity(&self, names: &DeviceNames) -> BTreeMap<String, Quantity> {
        let mut out: BTreeMap<String, Quantity> = BTreeMap::new();
        for z in &self.zones {
            for (r, q) in &z.capacity {
                *out.entry(r.clone()).or_default() += *q;
            }
        }
        for d in &self.outside_zones {
            *out.entry(names.of(d.kind).to_string()).or_default() += count(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugepage_sizes_are_named_as_kubernetes_names_them() {
        assert_eq!(hugepage_resource(2 << 20), "hugepages-2Mi");
        assert_eq!(hugepage_resource(1 << 30), "hugepages-1Gi");
        assert_eq!(hugepage_resource(64 << 10), "hugepages-64Ki");
        assert_eq!(hugepage_resource(32 << 20), "hugepages-32Mi");
        assert_eq!(hugepage_resource(16 << 30), "hugepages-16Gi");
    }
}
