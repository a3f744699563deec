//! Builders for models and workloads in tests, so a test states only what it is about:
//! `workload("w").queue("team-a").pods(4).cpu("2")`.
//!
//! Quantities are given as Kubernetes strings and parsed with `expect`: a typo in a test
//! should fail loudly.

use crate::model::Model;
use crate::node::{Labels, Taint, TaintEffect, Toleration, TolerationOperator};
use crate::quantity::Quantity;
use crate::spec::{
    BorrowWithinCohort, ClusterQueueSpec, ClusterSpec, CohortSpec, FlavorQuotaSpec, FlavorSpec,
    NodeSpec, PodSetSpec, PreemptionSpec, QueueingStrategy, ReclaimWithinCohort, ResourceGroupSpec,
    ResourceQuotaSpec, WithinClusterQueue, WorkloadSpec,
};
use crate::time::Duration;

/// Parses a quantity in a test.
pub fn q(s: &str) -> Quantity {
    Quantity::parse(s).expect("valid quantity in test")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A cluster under construction.
#[derive(Clone, Debug, Default)]
pub struct ClusterBuilder {
    /// The spec built so far.
    pub spec: ClusterSpec,
}

/// Starts a cluster.
pub fn cluster() -> ClusterBuilder {
    ClusterBuilder::default()
}

impl ClusterBuilder {
    /// Adds a node with allocatable resources, e.g. `&[("cpu", "8"), ("nvidia.com/gpu", "4")]`.
    pub fn node(mut self, name: &str, allocatable: &[(&str, &str)]) -> Self {
        self.spec.nodes.push(NodeSpec {
            name: name.into(),
            allocatable: allocatable
                .iter()
                .map(|(r, v)| (r.to_string(), q(v)))
                .collect(),
            ..NodeSpec::default()
        });
        self
    }

    /// Adds `count` nodes named `{prefix}-{i}` with the same labels and resources.
    pub fn nodes(
        mut self,
        prefix: &str,
        count: usize,
        node_labels: &[(&str, &str)],
        allocatable: &[(&str, &str)],
    ) -> Self {
        for i in 0..count {
            self.spec.nodes.push(NodeSpec {
                name: format!("{prefix}-{i}"),
                labels: labels(node_labels),
                allocatable: allocatable
                    .iter()
                    .map(|(r, v)| (r.to_string(), q(v)))
                    .collect(),
                ..NodeSpec::default()
            });
        }
        self
    }

    /// Labels the most recently added node.
    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        if let Some(n) = self.spec.nodes.last_mut() {
            n.labels.extend(labels(pairs));
        }
        self
    }

    /// Taints the most recently added node with `key=value:NoSchedule`.
    pub fn taint(mut self, key: &str, value: &str) -> Self {
        if let Some(n) = self.spec.nodes.last_mut() {
            n.taints.push(Taint {
                key: key.into(),
                value: value.into(),
                effect: TaintEffect::NoSchedule,
            });
        }
        self
    }

    /// Adds a flavor selecting nodes with these labels.
    pub fn flavor(mut self, name: &str, node_labels: &[(&str, &str)]) -> Self {
        self.spec.flavors.push(FlavorSpec {
            name: name.into(),
            node_labels: labels(node_labels),
            ..FlavorSpec::default()
        });
        self
    }

    /// Adds a flavor whose nodes carry a `key=value:NoSchedule` taint it also tolerates.
    pub fn tainted_flavor(
        mut self,
        name: &str,
        node_labels: &[(&str, &str)],
        key: &str,
        value: &str,
    ) -> Self {
        let taint = Taint {
            key: key.into(),
            value: value.into(),
            effect: TaintEffect::NoSchedule,
        };
        self.spec.flavors.push(FlavorSpec {
            name: name.into(),
            node_labels: labels(node_labels),
            node_taints: vec![taint],
            tolerations: vec![toleration(key, value)],
        });
        self
    }

    /// Adds a ClusterQueue.
    pub fn queue(mut self, cq: CqBuilder) -> Self {
        self.spec.cluster_queues.push(cq.spec);
        self
    }

    /// Adds an explicit cohort.
    pub fn cohort(
        mut self,
        name: &str,
        parent: Option<&str>,
        groups: Vec<ResourceGroupSpec>,
    ) -> Self {
        self.spec.cohorts.push(CohortSpec {
            name: name.into(),
            parent: parent.map(Into::into),
            resource_groups: groups,
            fair_weight: None,
        });
        self
    }

    /// Builds the model.
    pub fn build(self) -> Model {
        Model::new(&self.spec).expect("valid cluster in test")
    }
}

/// A `key=value` Equal toleration for every effect.
pub fn toleration(key: &str, value: &str) -> Toleration {
    Toleration {
        key: key.into(),
        operator: TolerationOperator::Equal,
        value: value.into(),
        effect: None,
    }
}

/// A ClusterQueue under construction.
#[derive(Clone, Debug, Default)]
pub struct CqBuilder {
    /// The spec built so far.
    pub spec: ClusterQueueSpec,
}

/// Starts a ClusterQueue.
pub fn cq(name: &str) -> CqBuilder {
    CqBuilder {
        spec: ClusterQueueSpec {
            name: name.into(),
            ..ClusterQueueSpec::default()
        },
    }
}

/// Quota of one resource: nominal, optional borrowing limit, optional lending limit.
pub fn quota(resource: &str, nominal: &str) -> ResourceQuotaSpec {
    ResourceQuotaSpec {
        name: resource.into(),
        nominal: q(nominal),
        borrowing_limit: None,
        lending_limit: None,
    }
}

impl ResourceQuotaSpec {
    /// Sets the borrowing limit.
    pub fn borrowing(mut self, limit: &str) -> Self {
        self.borrowing_limit = Some(q(limit));
        self
    }

    /// Sets the lending limit.
    pub fn lending(mut self, limit: &str) -> Self {
        self.lending_limit = Some(q(limit));
        self
    }
}

/// A resource group covering the resources of the first flavor's quotas.
pub fn group(flavors: Vec<(&str, Vec<ResourceQuotaSpec>)>) -> ResourceGroupSpec {
    let covered = flavors
        .first()
        .map(|(_, rs)| rs.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    ResourceGroupSpec {
        covered_resources: covered,
        flavors: flavors
            .into_iter()
            .map(|(name, resources)| FlavorQuotaSpec {
                name: name.into(),
                resources,
            })
            .collect(),
    }
}

impl CqBuilder {
    /// Puts the queue in a cohort.
    pub fn cohort(mut self, name: &str) -> Self {
        self.spec.cohort = Some(name.into());
        self
    }

    /// Adds a resource group.
    pub fn group(mut self, g: ResourceGroupSpec) -> Self {
        self.spec.resource_groups.push(g);
        self
    }

    /// Uses StrictFIFO.
    pub fn strict_fifo(mut self) -> Self {
        self.spec.queueing_strategy = QueueingStrategy::StrictFIFO;
        self
    }

    /// Uses Backfill.
    pub fn backfill(mut self) -> Self {
        self.spec.queueing_strategy = QueueingStrategy::Backfill;
        self
    }

    /// Sets the preemption policies.
    pub fn preemption(mut self, within: WithinClusterQueue, reclaim: ReclaimWithinCohort) -> Self {
        self.spec.preemption = PreemptionSpec {
            within_cluster_queue: within,
            reclaim_within_cohort: reclaim,
            borrow_within_cohort: self.spec.preemption.borrow_within_cohort,
        };
        self
    }

    /// Allows preempting while borrowing, below a threshold.
    pub fn borrow_within_cohort(mut self, max_priority_threshold: Option<i32>) -> Self {
        self.spec.preemption.borrow_within_cohort = BorrowWithinCohort::LowerPriority {
            max_priority_threshold,
        };
        self
    }
}

/// A workload under construction: one pod set `main` of one pod requesting nothing.
#[derive(Clone, Debug)]
pub struct WorkloadBuilder {
    /// The spec built so far.
    pub spec: WorkloadSpec,
}

/// Starts a workload in namespace `ns`.
pub fn workload(name: &str) -> WorkloadBuilder {
    WorkloadBuilder {
        spec: WorkloadSpec {
            namespace: "ns".into(),
            name: name.into(),
            cluster_queue: String::new(),
            priority: 0,
            pod_sets: vec![PodSetSpec {
                name: "main".into(),
                count: 1,
                ..PodSetSpec::default()
            }],
            runtime_limit: None,
            topology: None,
        },
    }
}

impl WorkloadBuilder {
    fn last(&mut self) -> &mut PodSetSpec {
        self.spec.pod_sets.last_mut().expect("a pod set")
    }

    /// Its ClusterQueue.
    pub fn queue(mut self, cq: &str) -> Self {
        self.spec.cluster_queue = cq.into();
        self
    }

    /// Pods in the current pod set.
    pub fn pods(mut self, n: u32) -> Self {
        self.last().count = n;
        self
    }

    /// CPU per pod in the current pod set.
    pub fn cpu(self, v: &str) -> Self {
        self.request("cpu", v)
    }

    /// GPUs per pod in the current pod set.
    pub fn gpu(self, v: &str) -> Self {
        self.request("nvidia.com/gpu", v)
    }

    /// Any resource per pod in the current pod set.
    pub fn request(mut self, r: &str, v: &str) -> Self {
        self.last().request.insert(r.into(), q(v));
        self
    }

    /// Priority.
    pub fn priority(mut self, p: i32) -> Self {
        self.spec.priority = p;
        self
    }

    /// Node selector of the current pod set.
    pub fn selector(mut self, k: &str, v: &str) -> Self {
        self.last().node_selector.insert(k.into(), v.into());
        self
    }

    /// Toleration of the current pod set.
    pub fn tolerate(mut self, k: &str, v: &str) -> Self {
        self.last().tolerations.push(toleration(k, v));
        self
    }

    /// Starts another pod set.
    pub fn pod_set(mut self, name: &str, count: u32) -> Self {
        self.spec.pod_sets.push(PodSetSpec {
            name: name.into(),
            count,
            ..PodSetSpec::default()
        });
        self
    }

    /// Runtime limit in seconds.
    pub fn limit_secs(mut self, s: i64) -> Self {
        self.spec.runtime_limit = Some(Duration::from_secs(s));
        self
    }

    /// The spec.
    pub fn build(self) -> WorkloadSpec {
        self.spec
    }
}

/// Runs cycles at `now` until one decides nothing, applying each and checking the model's
/// invariants after every one; returns every decision made, in order.
pub fn settle(model: &mut Model, now: crate::time::Time) -> Vec<crate::decision::Decision> {
    let profile = crate::cycle::Profile::default();
    let mut all = Vec::new();
    for _ in 0..1000 {
        let out = crate::cycle::run_cycle(model, now, &profile);
        model.apply_output(&out, now).expect("cycle output applies");
        if let Err(e) = crate::invariants::check(model) {
            panic!("invariant broken: {e}");
        }
        let settled = out.settled;
        if !out.changes_anything() {
            return all;
        }
        all.extend(out.decisions);
        if settled {
            // The core says another cycle would decide nothing: prove it.
            let again = crate::cycle::run_cycle(model, now, &profile);
            assert!(
                again.decisions.is_empty(),
                "a settled cycle was followed by {:?}",
                again.decisions
            );
            return all;
        }
    }
    panic!("cycles did not settle");
}

/// Short text for decisions, for readable assertions: `admit ns/a n1,n1`, `preempt ns/b by
/// ns/a InClusterQueue`, `inadmissible ns/c`.
pub fn describe(model: &Model, decisions: &[crate::decision::Decision]) -> Vec<String> {
    use crate::decision::Decision;
    decisions
        .iter()
        .map(|d| match d {
            Decision::Admit(a) => {
                let nodes: Vec<&str> = a
                    .placements
                    .iter()
                    .map(|n| model.nodes()[n.index()].name.as_str())
                    .collect();
                let flavors: Vec<String> = model
                    .admission_flavors(a)
                    .iter()
                    .map(|m| m.values().cloned().collect::<Vec<_>>().join("+"))
                    .collect();
                format!(
                    "admit {} [{}] {}{}",
                    model.workload(a.workload).key,
                    flavors.join(" "),
                    nodes.join(","),
                    if a.borrowing { " borrowing" } else { "" }
                )
            }
            Decision::Preempt { preemptor, victims } => victims
                .iter()
                .map(|v| {
                    format!(
                        "preempt {} by {} {}",
                        model.workload(v.workload).key,
                        model.workload(*preemptor).key,
                        v.reason.as_str()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Decision::Inadmissible { workload, .. } => {
                format!("inadmissible {}", model.workload(*workload).key)
            }
        })
        .collect()
}
