//! Network topology: levels (block, rack, host, …) whose domains are the values of a node
//! label, and the rules for packing a gang into them.
//!
//! A workload may ask for its whole gang in one domain of a level, required or preferred.
//! Among the domains that can hold the whole gang, the one left with the least free capacity
//! wins (best fit: per-mille of the domain's allocatable left, summed over the requested
//! resources; ties by domain name). A preferred request that no single domain can hold
//! spans as few domains as it can: the `k` domains with the most room, `k` growing from 2
//! (greedy, so "fewest" holds for that order).

use crate::ids::NodeId;
use crate::node::Node;
use crate::quantity::Quantity;
use crate::resource::ResourceId;
use crate::usage::Scratch;

/// The node label a level named `name` reads when no levels are configured.
pub fn default_label(name: &str) -> String {
    if name == "hostname" {
        HOSTNAME_LABEL.to_string()
    } else {
        format!("topology.muster.dev/{name}")
    }
}

/// The label every Kubernetes node carries with its host name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Marks a node that is in no domain of a level (it lacks the label).
const NO_DOMAIN: u32 = u32::MAX;

/// One level of the network topology, with each node's domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// The level's name, e.g. `rack`.
    pub name: String,
    /// The node label whose values are its domains.
    pub label: String,
    /// Domain names (label values), sorted.
    domains: Vec<String>,
    /// Each node's domain index, or [`NO_DOMAIN`].
    node_domain: Vec<u32>,
    /// Each domain's nodes, in id order.
    members: Vec<Vec<NodeId>>,
}

impl Level {
    /// The level `name` read from `label` on `nodes` (node id order). For the host-name
    /// label, a node without it is its own domain (the kubelet always sets it).
    pub fn build(name: &str, label: &str, nodes: &[Node]) -> Level {
        let value = |n: &Node| -> Option<String> {
            match n.labels.get(label) {
                Some(v) => Some(v.clone()),
                None if label == HOSTNAME_LABEL => Some(n.name.clone()),
                None => None,
            }
        };
        let mut domains: Vec<String> = nodes.iter().filter_map(value).collect();
        domains.sort();
        domains.dedup();
        let mut members = vec![Vec::new(); domains.len()];
        let node_domain = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match value(n) {
                Some(v) => {
                    let d = domains.binary_search(&v).expect("collected above");
                    members[d].push(NodeId(i as u32));
                    d as u32
                }
                None => NO_DOMAIN,
            })
            .collect();
        Level {
            name: name.to_string(),
            label: label.to_string(),
            domains,
            node_domain,
            members,
        }
    }

    /// Number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// A domain's name.
    pub fn domain_name(&self, d: usize) -> &str {
        &self.domains[d]
    }

    /// The domain of a node, if it has one.
    pub fn domain_of(&self, node: NodeId) -> Option<usize> {
        match self.node_domain.get(node.index()) {
            Some(&d) if d != NO_DOMAIN => Some(d as usize),
            _ => None,
        }
    }

    /// A domain's nodes.
    pub fn members(&self, d: usize) -> &[NodeId] {
        &self.members[d]
    }

    /// Free and allocatable milli-units of `resources` summed over a domain's nodes.
    pub(crate) fn room(
        &self,
        d: usize,
        s: &Scratch,
        capacity: &[Quantity],
        r_count: usize,
        resources: &[ResourceId],
    ) -> Vec<(i128, i128)> {
        resources
            .iter()
            .map(|r| {
                self.members[d].iter().fold((0, 0), |(free, cap), n| {
                    let cell = n.index() * r_count + r.index();
                    let c = capacity[cell].milli();
                    (free + (c - s.node(cell).milli()).max(0), cap + c)
                })
            })
            .collect()
    }
}

/// The best-fit figure of a domain: per-mille of its allocatable left, summed over the
/// requested resources (lower is a tighter fit).
pub(crate) fn per_mille_left(room: &[(i128, i128)]) -> i128 {
    room.iter()
        .map(|&(free, cap)| if cap > 0 { free * 1000 / cap } else { 0 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Labels;

    fn node(name: &str, rack: Option<&str>) -> Node {
        let mut labels = Labels::new();
        if let Some(r) = rack {
            labels.insert("topology.muster.dev/rack".into(), r.into());
        }
        Node {
            name: name.into(),
            labels,
            taints: Vec::new(),
        }
    }

    #[test]
    fn domains_are_label_values_and_unlabelled_nodes_are_in_none() {
        let nodes = [
            node("a", Some("r2")),
            node("b", Some("r1")),
            node("c", None),
            node("d", Some("r2")),
        ];
        let level = Level::build("rack", &default_label("rack"), &nodes);
        assert_eq!(level.domain_count(), 2);
        assert_eq!(level.domain_name(0), "r1");
        assert_eq!(level.members(1), [NodeId(0), NodeId(3)]);
        assert_eq!(level.domain_of(NodeId(2)), None);
        let hosts = Level::build("hostname", &default_label("hostname"), &nodes);
        assert_eq!(hosts.domain_count(), 4, "every node is its own host");
    }

    #[test]
    fn best_fit_prefers_the_domain_left_fullest() {
        assert!(per_mille_left(&[(1000, 8000)]) < per_mille_left(&[(4000, 8000)]));
        assert_eq!(per_mille_left(&[(0, 0)]), 0);
    }
}
