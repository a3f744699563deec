//! The NodeResourceTopology the agent publishes for its node, and publishing it.
//!
//! The object is the community's `topology.node.k8s.io/v1alpha2`, as NFD's topology-updater
//! writes it, so that Muster and the scheduler-plugins' NodeResourceTopologyMatch plugin read
//! it alike:
//!
//! - named after the node, owned by the Node object (so it goes when the node goes);
//! - `attributes` `topologyManagerPolicy` and `topologyManagerScope` with the kubelet's
//!   spellings (`single-numa-node`, `pod`), which the plugin reads;
//! - the deprecated `topologyPolicies`, one value of the v1alpha1 enum
//!   (`SingleNUMANodePodLevel`, ...), which NFD still writes beside the attributes in v1alpha2
//!   for older readers;
//! - one zone of type `Node` per NUMA node, with `costs` (the kernel's distances) and each
//!   resource's `capacity`, `allocatable` and `available`.
//!
//! It is written by server-side apply with the field manager [`FIELD_MANAGER`] (which creates
//! it when absent), forcing ownership of its fields: the agent is the authority on its node.
//! A write happens only when the content differs from the last the agent knows of — what it
//! last wrote, or, when asked to refresh, what the API server holds now.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use muster_api::objects::{NodeResourceTopology, NrtAttribute, NrtCost, NrtResource, NrtZone, Qty};
use muster_core::Quantity;
use muster_core::numa::{TopologyPolicy, TopologyScope};

use super::available::Charged;
use super::inventory::Inventory;

/// The field manager of the agent's writes.
pub const FIELD_MANAGER: &str = "muster-agent";

/// The attribute naming the kubelet's topology manager policy.
pub const POLICY_ATTRIBUTE: &str = "topologyManagerPolicy";

/// The attribute naming the kubelet's topology manager scope.
pub const SCOPE_ATTRIBUTE: &str = "topologyManagerScope";

/// The zone type of a NUMA node.
pub const ZONE_TYPE_NODE: &str = "Node";

/// Reads a topology manager policy in the kubelet's spelling.
pub fn parse_policy(s: &str) -> Result<TopologyPolicy, String> {
    [
        TopologyPolicy::None,
        TopologyPolicy::BestEffort,
        TopologyPolicy::Restricted,
        TopologyPolicy::SingleNumaNode,
    ]
    .into_iter()
    .find(|p| p.as_str() == s)
    .ok_or_else(|| {
        format!("unknown topology manager policy {s:?} (none, best-effort, restricted, single-numa-node)")
    })
}

/// Reads a topology manager scope in the kubelet's spelling.
pub fn parse_scope(s: &str) -> Result<TopologyScope, String> {
    [TopologyScope::Container, TopologyScope::Pod]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| format!("unknown topology manager scope {s:?} (container, pod)"))
}

/// The policy and scope as one value of the deprecated `topologyPolicies` enum, as NFD's
/// topology-updater maps them.
pub fn legacy_policy(policy: TopologyPolicy, scope: TopologyScope) -> &'static str {
    match (policy, scope) {
        (TopologyPolicy::None, _) => "None",
        (TopologyPolicy::SingleNumaNode, TopologyScope::Container) => {
            "SingleNUMANodeContainerLevel"
        }
        (TopologyPolicy::SingleNumaNode, TopologyScope::Pod) => "SingleNUMANodePodLevel",
        (TopologyPolicy::Restricted, TopologyScope::Container) => "RestrictedContainerLevel",
        (TopologyPolicy::Restricted, TopologyScope::Pod) => "RestrictedPodLevel",
        (TopologyPolicy::BestEffort, TopologyScope::Container) => "BestEffortContainerLevel",
        (TopologyPolicy::BestEffort, TopologyScope::Pod) => "BestEffortPodLevel",
    }
}

/// The object for `node`: the zones of `inventory` with the available amounts of `charged`.
pub fn build(
    node: &str,
    inventory: &Inventory,
    charged: &Charged,
    policy: TopologyPolicy,
    scope: TopologyScope,
    pods_fingerprint: &str,
) -> NodeResourceTopology {
    let zones = inventory
        .zones
        .iter()
        .map(|z| {
            let available = charged.available.get(&z.name);
            NrtZone {
                name: z.name.clone(),
                zone_type: ZONE_TYPE_NODE.into(),
                costs: z
                    .costs
                    .iter()
                    .map(|(name, d)| NrtCost {
                        name: name.clone(),
                        value: i64::from(*d),
                    })
                    .collect(),
                attributes: Vec::new(),
                resources: z
                    .capacity
                    .iter()
                    .map(|(r, cap)| {
                        let alloc = z.allocatable.get(r).copied().unwrap_or(Quantity::ZERO);
                        let avail = available.and_then(|a| a.get(r)).copied().unwrap_or(alloc);
                        NrtResource {
                            name: r.clone(),
                            capacity: Some(Qty(*cap)),
                            allocatable: Some(Qty(alloc)),
                            available: Some(Qty(avail)),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    NodeResourceTopology {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            ..ObjectMeta::default()
        },
        topology_policies: vec![legacy_policy(policy, scope).to_string()],
        attributes: vec![
            NrtAttribute {
                name: POLICY_ATTRIBUTE.into(),
                value: policy.as_str().into(),
            },
            NrtAttribute {
                name: SCOPE_ATTRIBUTE.into(),
                value: scope.as_str().into(),
            },
            NrtAttribute {
                name: muster_api::numa_zones::PODS_FINGERPRINT_ATTRIBUTE.into(),
                value: pods_fingerprint.into(),
            },
        ],
        zones,
    }
}

/// Whether two objects say the same (metadata aside).
pub fn same_content(a: &NodeResourceTopology, b: &NodeResourceTopology) -> bool {
    a.topology_policies == b.topology_policies && a.attributes == b.attributes && a.zones == b.zones
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The object could not be read.
    #[error("reading NodeResourceTopology {name}: {source}")]
    Read {
        /// The object's name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The object could not be written.
    #[error("applying NodeResourceTopology {name}: {source}")]
    Write {
        /// The object's name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The object could not be encoded (a bug, not an input problem).
    #[error("encoding NodeResourceTopology {name}: {source}")]
    Encode {
        /// The object's name.
        name: String,
        /// The encoding error.
        source: serde_json::Error,
    },
}

/// What a publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The object already said this; nothing was written.
    Unchanged,
    /// The object was created or updated.
    Written,
}

/// Publishes one node's NodeResourceTopology, remembering what it last wrote.
pub struct Publisher {
    topologies: Api<NodeResourceTopology>,
    nodes: Api<Node>,
    node: String,
    last: Option<NodeResourceTopology>,
    owner: Option<OwnerReference>,
    /// Whether a missing owner was reported (once is enough).
    owner_reported: bool,
}

impl Publisher {
    /// A publisher for `node`'s object.
    pub fn new(client: Client, node: &str) -> Publisher {
        Publisher {
            topologies: Api::all(client.clone()),
            nodes: Api::all(client),
            node: node.to_string(),
            last: None,
            owner: None,
            owner_reported: false,
        }
    }

    /// The Node as the object's owner, once it can be read (a missing Node leaves the object
    /// unowned until a later publish finds it).
    async fn owner(&mut self) -> Option<OwnerReference> {
        if self.owner.is_none() {
            match self.nodes.get_opt(&self.node).await {
                Ok(Some(n)) => {
                    self.owner = n.metadata.uid.map(|uid| OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: self.node.clone(),
                        uid,
                        ..OwnerReference::default()
                    });
                }
                Ok(None) if !self.owner_reported => {
                    self.owner_reported = true;
                    tracing::warn!(node = %self.node, "no Node of this name: the NodeResourceTopology is published without an owner");
                }
                Err(e) if !self.owner_reported => {
                    self.owner_reported = true;
                    tracing::warn!(node = %self.node, error = %e, "cannot read the Node: the NodeResourceTopology is published without an owner");
                }
                Ok(None) | Err(_) => {}
            }
        }
        self.owner.clone()
    }

    /// Publishes `desired` unless the object already says it. With `refresh`, "already" is
    /// what the API server holds now (which repairs an object deleted or edited by someone
    /// else); without, what this publisher last wrote or read.
    pub async fn publish(
        &mut self,
        desired: &NodeResourceTopology,
        refresh: bool,
    ) -> Result<Published, PublishError> {
        let name = self.node.clone();
        if refresh || self.last.is_none() {
            self.last =
                self.topologies
                    .get_opt(&name)
                    .await
                    .map_err(|source| PublishError::Read {
                        name: name.clone(),
                        source,
                    })?;
        }
        let owner = self.owner().await;
        let owned = |o: &NodeResourceTopology| {
            owner.as_ref().is_none_or(|own| {
                o.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == own.uid)
            })
        };
        if let Some(last) = &self.last
            && same_content(last, desired)
            && owned(last)
        {
            return Ok(Published::Unchanged);
        }
        let mut object = desired.clone();
        object.metadata.name = Some(name.clone());
        object.metadata.owner_references = owner.map(|o| vec![o]);
        let mut body = serde_json::to_value(&object).map_err(|source| PublishError::Encode {
            name: name.clone(),
            source,
        })?;
        if let Some(map) = body.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                muster_api::load::NRT_API_VERSION.into(),
            );
            map.insert("kind".into(), "NodeResourceTopology".into());
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let written = self
            .topologies
            .patch(&name, &params, &Patch::Apply(&body))
            .await
            .map_err(|source| PublishError::Write {
                name: name.clone(),
                source,
            })?;
        self.last = Some(written);
        Ok(Published::Written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_the_kubelets_spelling_and_map_to_the_old_enum_as_nfd_does() {
        assert_eq!(
            parse_policy("single-numa-node"),
            Ok(TopologyPolicy::SingleNumaNode)
        );
        assert_eq!(parse_policy("best-effort"), Ok(TopologyPolicy::BestEffort));
        assert!(parse_policy("strict").unwrap_err().contains("\"strict\""));
        assert_eq!(parse_scope("pod"), Ok(TopologyScope::Pod));
        assert!(parse_scope("node").is_err());
        assert_eq!(
            legacy_policy(TopologyPolicy::Restricted, TopologyScope::Pod),
            "RestrictedPodLevel"
        );
        assert_eq!(
            legacy_policy(TopologyPolicy::None, TopologyScope::Pod),
            "None"
        );
    }
}
