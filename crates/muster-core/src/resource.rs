//! Resource names and the vectors that count them.
//!
//! Resource names (`cpu`, `memory`, `nvidia.com/gpu`, `pods`, …) are interned into a
//! [`ResourceTable`] once, when the model is built, so that the hot path compares small
//! integers. [`ResourceId`]s are assigned in name order, so iterating resources by id is
//! iterating them by name: output that lists resources is deterministic for free.
//!
//! A [`Request`] is what one pod asks for: a short sorted list of the resources it requests
//! with non-zero amounts. Node capacity and usage are dense (every resource for every node).

use std::collections::BTreeMap;

use crate::quantity::Quantity;

/// The name of the resource that counts pods on a node.
pub const PODS: &str = "pods";

/// A resource name, interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub u16);

impl ResourceId {
    /// The position of this resource in dense vectors.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Every resource name the model knows, in name order.
#[derive(Clone, Debug, Default)]
pub struct ResourceTable {
    names: Vec<String>,
    by_name: BTreeMap<String, ResourceId>,
}

impl ResourceTable {
    /// A table of the given names (deduplicated; `pods` is always included).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set: std::collections::BTreeSet<String> =
            names.into_iter().map(Into::into).collect();
        set.insert(PODS.to_string());
        let names: Vec<String> = set.into_iter().collect();
        let by_name = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), ResourceId(i as u16)))
            .collect();
        ResourceTable { names, by_name }
    }

    /// The id of a resource name, if the table knows it.
    pub fn id(&self, name: &str) -> Option<ResourceId> {
        self.by_name.get(name).copied()
    }

    /// The id of `pods`.
    pub fn pods(&self) -> ResourceId {
        self.by_name[PODS]
    }

    /// The name of a resource.
    pub fn name(&self, id: ResourceId) -> &str {
        &self.names[id.index()]
    }

    /// How many resources there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table is empty (never: `pods` is always present).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All resource ids, in name order.
    pub fn ids(&self) -> impl Iterator<Item = ResourceId> + '_ {
        (0..self.names.len()).map(|i| ResourceId(i as u16))
    }
}

/// What one pod requests: the resources with non-zero amounts, sorted by id.
///
/// The implicit one `pods` slot a pod takes on its node is not part of the request; node fit
/// adds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request(Vec<(ResourceId, Quantity)>);

impl Request {
    /// A request from (resource, amount) pairs; zero amounts are dropped, duplicates summed.
    pub fn new(items: impl IntoIterator<Item = (ResourceId, Quantity)>) -> Self {
        let mut map: BTreeMap<ResourceId, Quantity> = BTreeMap::new();
        for (r, q) in items {
            *map.entry(r).or_default() += q;
        }
        Request(map.into_iter().filter(|(_, q)| !q.is_zero()).collect())
    }

    /// The requested (resource, amount) pairs, in resource order.
    pub fn iter(&self) -> impl Iterator<Item = (ResourceId, Quantity)> + '_ {
        self.0.iter().copied()
    }

    /// The amount requested of one resource (zero when not requested).
    pub fn get(&self, r: ResourceId) -> Quantity {
        self.0
            .iter()
            .find(|(id, _)| *id == r)
            .map(|(_, q)| *q)
            .unwrap_or_default()
    }

    /// How many resources are requested.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is requested.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Renders a request for messages: `cpu=2, memory=4Gi`.
pub fn describe_request(table: &ResourceTable, request: &Request) -> String {
    if request.is_empty() {
        return "nothing".to_string();
    }
    request
        .iter()
        .map(|(r, q)| format!("{}={}", table.name(r), q))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_orders_by_name_and_always_has_pods() {
        let t = ResourceTable::new(["memory", "cpu", "nvidia.com/gpu", "cpu"]);
        let names: Vec<&str> = t.ids().map(|id| t.name(id)).collect();
        assert_eq!(names, ["cpu", "memory", "nvidia.com/gpu", "pods"]);
        assert_eq!(t.name(t.pods()), "pods");
        assert_eq!(t.id("disk"), None);
    }

    #[test]
    fn request_drops_zeros_and_sums_duplicates() {
        let a = ResourceId(0);
        let b = ResourceId(1);
        let r = Request::new([
            (b, Quantity::from_units(1)),
            (a, Quantity::ZERO),
            (b, Quantity::from_units(2)),
        ]);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(b, Quantity::from_units(3))]);
        assert_eq!(r.get(a), Quantity::ZERO);
    }
}
