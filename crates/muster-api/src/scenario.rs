//! From loaded objects to a simulation scenario: every object validated, every reference
//! resolved, and the result handed to the core as a [`ClusterSpec`] and workloads.
//!
//! Validation collects every problem before failing. The rules are Kubernetes' and Kueue's
//! where they have one (quota fields, taints, tolerations, resource requests), plus what a
//! simulation needs (`muster.dev/sim-duration` on every Job and Workload).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodTemplateSpec;
use muster_core::node::{Taint, TaintEffect};
use muster_core::numa::{NodeTopologySpec, TopologyPolicy, TopologyScope, ZoneSpec};
use muster_core::place::Scoring;
use muster_core::spec::{
    BorrowWithinCohort, ClusterQueueSpec, ClusterSpec, CohortSpec, FairShareStrategy,
    FairSharingSpec, FlavorQuotaSpec, FlavorSpec, NodeSpec, PodSetSpec, PreemptionSpec,
    QueueingStrategy, ReclaimWithinCohort, ResourceGroupSpec, ResourceQuotaSpec, TopologyLevelSpec,
    TopologyRequestSpec, WithinClusterQueue, WorkloadSpec,
};
use muster_core::{Duration, Quantity};

use crate::error::{InputError, InputErrors, Warning};
use crate::load::{Inputs, Loaded, Object};
use crate::objects::{ClusterQueuePreemption, ResourceGroup};
use crate::pod::{pod_requests, tolerations};
use crate::validate::{Ctx, taints};
use crate::yaml::Path;

/// The label that submits a Job to a LocalQueue.
pub const QUEUE_LABEL: &str = "muster.dev/queue-name";
/// Simulation: when a workload is submitted, as an offset from the start.
pub const SUBMIT_AFTER: &str = "muster.dev/sim-submit-after";
/// Simulation: how long a workload runs once admitted.
pub const SIM_DURATION: &str = "muster.dev/sim-duration";
/// The network-topology level whose one domain must hold the whole gang.
pub const TOPOLOGY_REQUIRED: &str = "muster.dev/topology-required";
/// The network-topology level whose one domain should hold the whole gang, if one can.
pub const TOPOLOGY_PREFERRED: &str = "muster.dev/topology-preferred";

/// A workload to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioWorkload {
    /// The workload as the core takes it.
    pub spec: WorkloadSpec,
    /// `Job` or `Workload`.
    pub kind: &'static str,
    /// When it is submitted.
    pub submit_after: Duration,
    /// How long it runs once admitted.
    pub duration: Duration,
    /// How long it waited in the real system a trace recorded it from, if known.
    pub recorded_wait: Option<Duration>,
}

/// Everything a simulation needs.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Workloads, in input order.
    pub workloads: Vec<ScenarioWorkload>,
    /// Problems that did not stop the run.
    pub warnings: Vec<Warning>,
    /// Objects read, by kind.
    pub counts: BTreeMap<&'static str, usize>,
    /// Fair sharing, when the `Configuration` turns it on.
    pub fair_sharing: Option<FairSharingSpec>,
    /// How nodes are scored (the `Configuration`'s `spec.scoringStrategy`).
    pub scoring: Scoring,
    /// The traces read into it, with what their loaders did.
    pub traces: Vec<crate::trace::TraceReport>,
    /// The LocalQueues of the YAML inputs: (namespace, name) → ClusterQueue. A trace's
    /// queue `q` goes where LocalQueue `q/q` points.
    pub local_queues: BTreeMap<(String, String), String>,
}

/// Validates the inputs and builds a scenario.
pub fn build_scenario(inputs: Inputs) -> Result<Scenario, InputErrors> {
    let mut b = Builder {
        errors: Vec::new(),
        warnings: inputs.warnings,
        scenario: Scenario::default(),
        live: false,
        rejected: BTreeSet::new(),
    };
    b.run(&inputs.objects);
    if b.errors.is_empty() {
        b.scenario.warnings = b.warnings;
        Ok(b.scenario)
    } else {
        Err(InputErrors(b.errors))
    }
}

struct Builder {
    errors: Vec<InputError>,
    warnings: Vec<Warning>,
    scenario: Scenario,
    /// Objects from a live cluster: no simulation annotations.
    live: bool,
    /// Labels of objects left out because they are invalid (live clusters only).
    rejected: BTreeSet<String>,
}

/// A live cluster as the controller sees it: what is valid, and what was left out and why.
#[derive(Clone, Debug, Default)]
pub struct LiveCluster {
    /// The valid part of the cluster.
    pub cluster: ClusterSpec,
    /// The valid Workloads.
    pub workloads: Vec<WorkloadSpec>,
    /// Objects left out, by label (`Kind "name"` or `Kind "namespace/name"`), with every
    /// problem found with them.
    pub rejected: BTreeMap<String, Vec<InputError>>,
    /// Problems that did not stop anything.
    pub warnings: Vec<Warning>,
}

/// Validates the objects of a live cluster (read from the API server) one by one: an invalid
/// object is left out with its errors, and so is whatever depends on it (a ClusterQueue
/// naming a flavor that was left out, a Workload of a LocalQueue that was), so one bad object
/// never stops the rest. Workloads need no simulation annotations here.
pub fn build_live(objects: &[Loaded], topology_levels: &[TopologyLevelSpec]) -> LiveCluster {
    let mut rejected: BTreeMap<String, Vec<InputError>> = BTreeMap::new();
    loop {
        let kept = objects
            .iter()
            .filter(|o| rejected.is_empty() || !rejected.contains_key(&o.label()));
        let mut b = Builder {
            errors: Vec::new(),
            warnings: Vec::new(),
            scenario: Scenario::default(),
            live: true,
            rejected: rejected.keys().cloned().collect(),
        };
        b.scenario.cluster.topology_levels = topology_levels.to_vec();
        b.run(kept);
        let before = rejected.len();
        // Reject only the objects of the lowest level with errors in this round: what
        // depends on them is judged again knowing they are out (and says so).
        let level_of = |e: &InputError| -> u8 {
            let label = e.object.as_deref().unwrap_or_default();
            match label.split(' ').next().unwrap_or_default() {
                "ClusterQueue" => 1,
                "LocalQueue" => 2,
                "Job" | "Workload" => 3,
                _ => 0,
            }
        };
        let lowest = b.errors.iter().map(level_of).min();
        for e in b.errors {
            if Some(level_of(&e)) != lowest {
                continue;
            }
            let label = e.object.clone().unwrap_or_default();
            rejected.entry(label).or_default().push(e);
        }
        // Each round leaves out at least one more object, or ends.
        if rejected.len() == before {
            return LiveCluster {
                cluster: b.scenario.cluster,
                workloads: b.scenario.workloads.into_iter().map(|w| w.spec).collect(),
                rejected,
                warnings: b.warnings,
            };
        }
    }
}

fn name_path() -> Path {
    Path::root().key("metadata").key("name")
}

impl Builder {
    fn cx<'a>(&'a mut self, o: &'a Loaded) -> Ctx<'a> {
        Ctx::new(&o.source, o.label(), &mut self.errors)
    }

    fn run<'a>(&mut self, objects: impl IntoIterator<Item = &'a Loaded>) {
        // Duplicates, per kind (Jobs and Workloads share one namespace of workload names).
        let mut seen: BTreeMap<(&str, Option<&str>, &str), &Loaded> = BTreeMap::new();
        let mut unique: Vec<&Loaded> = Vec::new();
        for o in objects {
            *self.scenario.counts.entry(o.object.kind()).or_default() += 1;
            let group = match o.object {
                Object::Job(_) | Object::Workload(_) => "workload",
                _ => o.object.kind(),
            };
            let key = (group, o.namespace.as_deref(), o.name.as_str());
            if let Some(first) = seen.get(&key) {
                let e = o.error(
                    &name_path(),
                    format!(
                        "{} is defined twice (first at {})",
                        o.label(),
                        first.location()
                    ),
                );
                self.errors.push(e);
                continue;
            }
            seen.insert(key, o);
            unique.push(o);
        }
        let of = |kind: &'static str| {
            unique
                .iter()
                .copied()
                .filter(move |o| o.object.kind() == kind)
        };

        let priorities = self.priority_classes(of("PriorityClass"));
        let flavor_names: BTreeSet<String> = of("ResourceFlavor").map(|o| o.name.clone()).collect();
        for o in of("ResourceFlavor") {
            self.flavor(o);
        }
        for o in of("Node") {
            self.node(o);
        }
        let cohorts: Vec<&Loaded> = of("Cohort").collect();
        for o in &cohorts {
            self.cohort(o, &flavor_names);
        }
        self.cohort_cycles(&cohorts);
        for o in of("ClusterQueue") {
            self.cluster_queue(o, &flavor_names);
        }
        let mut configs = of("Configuration");
        if let Some(first) = configs.next() {
            self.configuration(first);
        }
        for extra in configs {
            let e = extra.error(&name_path(), "at most one Configuration may be given");
            self.errors.push(e);
        }
        let cq_names: BTreeSet<String> = self
            .scenario
            .cluster
            .cluster_queues
            .iter()
            .map(|q| q.name.clone())
            .collect();
        let mut local_queues: BTreeMap<(String, String), String> = BTreeMap::new();
        for o in of("LocalQueue") {
            if let Object::LocalQueue(lq) = &o.object {
                let path = Path::root().key("spec").key("clusterQueue");
                if lq.spec.cluster_queue.is_empty() {
                    self.cx(o).error(&path, "required");
                } else if !cq_names.contains(&lq.spec.cluster_queue) {
                    let label = format!("ClusterQueue {:?}", lq.spec.cluster_queue);
                    let msg = if self.rejected.contains(&label) {
                        format!("{label} is not active: see its status")
                    } else {
                        format!("unknown ClusterQueue {:?}", lq.spec.cluster_queue)
                    };
                    self.cx(o).error(&path, msg);
                } else {
                    let ns = o.namespace.clone().unwrap_or_default();
                    local_queues.insert((ns, o.name.clone()), lq.spec.cluster_queue.clone());
                }
            }
        }
        let node_names: BTreeSet<String> = self
            .scenario
            .cluster
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let mut topologies: BTreeMap<String, NodeTopologySpec> = BTreeMap::new();
        for o in of("NodeResourceTopology") {
            // Two objects of one name are rejected with the other duplicates.
            if let Some(t) = self.topology(o, &node_names) {
                topologies.insert(o.name.clone(), t);
            }
        }
        for n in &mut self.scenario.cluster.nodes {
            n.topology = topologies.remove(&n.name);
        }
        let rejected = std::mem::take(&mut self.rejected);
        let refs = Refs {
            priorities: &priorities,
            local_queues: &local_queues,
            rejected: &rejected,
        };
        for o in unique.iter().copied() {
            match &o.object {
                Object::Job(_) => self.job(o, &refs),
                Object::Workload(_) => self.workload(o, &refs),
                _ => {}
            }
        }
        self.rejected = rejected;
        self.scenario.local_queues = local_queues;
    }

    fn priority_classes<'a>(&mut self, objects: impl Iterator<Item = &'a Loaded>) -> Priorities {
        let mut p = Priorities::default();
        let mut default_at: Option<String> = None;
        for o in objects {
            let Object::PriorityClass(pc) = &o.object else {
                continue;
            };
            let Some(value) = pc.value else {
                self.cx(o)
                    .error(&Path::root().key("value"), "required: the priority");
                continue;
            };
            p.by_name.insert(o.name.clone(), value);
            if pc.global_default == Some(true) {
                if let Some(first) = &default_at {
                    let msg =
                        format!("only one PriorityClass may be the global default ({first} is)");
                    self.cx(o).error(&Path::root().key("globalDefault"), msg);
                } else {
                    default_at = Some(o.name.clone());
                    p.default = value;
                }
            }
        }
        p
    }

    fn flavor(&mut self, o: &Loaded) {
        let Object::ResourceFlavor(f) = &o.object else {
            return;
        };
        let spec = Path::root().key("spec");
        let mut cx = self.cx(o);
        let node_taints = taints(&f.spec.node_taints, &spec.key("nodeTaints"), &mut cx);
        let tolerations = tolerations(&f.spec.tolerations, &spec.key("tolerations"), &mut cx);
        self.scenario.cluster.flavors.push(FlavorSpec {
            name: o.name.clone(),
            node_labels: f.spec.node_labels.clone(),
            node_taints,
            tolerations,
        });
    }

    fn node(&mut self, o: &Loaded) {
        let Object::Node(n) = &o.object else { return };
        let mut cx = self.cx(o);
        let mut allocatable = BTreeMap::new();
        let alloc_path = Path::root().key("status").key("allocatable");
        for (name, q) in n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some(v) = cx.quantity(&alloc_path.key(name), &q.0) {
                allocatable.insert(name.clone(), v);
            }
        }
        let spec = n.spec.clone().unwrap_or_default();
        let mut node_taints = taints(
            spec.taints.as_deref().unwrap_or(&[]),
            &Path::root().key("spec").key("taints"),
            &mut cx,
        );
        if spec.unschedulable == Some(true) {
            // A cordoned node repels new pods, as the node lifecycle controller's taint does.
            node_taints.push(Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            });
        }
        self.scenario.cluster.nodes.push(NodeSpec {
            name: o.name.clone(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            taints: node_taints,
            allocatable,
            topology: None,
        });
    }

    fn cohort(&mut self, o: &Loaded, flavors: &BTreeSet<String>) {
        let Object::Cohort(c) = &o.object else { return };
        let spec = Path::root().key("spec");
        let parent = c.spec.parent.clone().filter(|p| !p.is_empty());
        if parent.as_deref() == Some(o.name.as_str()) {
            self.cx(o)
                .error(&spec.key("parent"), "a cohort cannot be its own parent");
        }
        let groups = resource_groups(
            &c.spec.resource_groups,
            &spec.key("resourceGroups"),
            flavors,
            parent.is_some(),
            &mut self.cx(o),
        );
        let fair_weight = c
            .spec
            .fair_sharing
            .as_ref()
            .and_then(|f| f.weight)
            .and_then(|w| {
                self.cx(o)
                    .non_negative(&spec.key("fairSharing").key("weight"), w)
            });
        self.scenario.cluster.cohorts.push(CohortSpec {
            name: o.name.clone(),
            parent,
            resource_groups: groups,
            fair_weight,
        });
    }

    fn cohort_cycles(&mut self, cohorts: &[&Loaded]) {
        let parents: BTreeMap<&str, &str> = self
            .scenario
            .cluster
            .cohorts
            .iter()
            .filter_map(|c| c.parent.as_deref().map(|p| (c.name.as_str(), p)))
            .collect();
        let mut reported: BTreeSet<String> = BTreeSet::new();
        let mut errors = Vec::new();
        for start in parents.keys() {
            let mut chain = vec![*start];
            let mut cur = parents.get(start).copied();
            while let Some(p) = cur {
                if p == *start {
                    let mut members: Vec<&str> = chain.clone();
                    members.sort();
                    if reported.insert(members.join(","))
                        && chain.len() > 1
                        && let Some(o) = cohorts.iter().find(|o| o.name == *start)
                    {
                        chain.push(start);
                        errors.push(o.error(
                            &Path::root().key("spec").key("parent"),
                            format!("cohort parents form a cycle: {}", chain.join(" -> ")),
                        ));
                    }
                    break;
                }
                if chain.contains(&p) || chain.len() > parents.len() {
                    break;
                }
                chain.push(p);
                cur = parents.get(p).copied();
            }
        }
        self.errors.extend(errors);
    }

    fn cluster_queue(&mut self, o: &Loaded, flavors: &BTreeSet<String>) {
        let Object::ClusterQueue(q) = &o.object else {
            return;
        };
        let spec = Path::root().key("spec");
        let cohort = q.spec.cohort.clone().filter(|c| !c.is_empty());
        let mut cx = self.cx(o);
        let strategy_path = spec.key("queueingStrategy");
        let queueing_strategy = cx.one_of(
            &strategy_path,
            q.spec.queueing_strategy.as_deref(),
            QueueingStrategy::BestEffortFIFO,
            &[
                ("BestEffortFIFO", QueueingStrategy::BestEffortFIFO),
                ("StrictFIFO", QueueingStrategy::StrictFIFO),
                ("Backfill", QueueingStrategy::Backfill),
            ],
        );
        let groups = resource_groups(
            &q.spec.resource_groups,
            &spec.key("resourceGroups"),
            flavors,
            cohort.is_some(),
            &mut cx,
        );
        let preemption = preemption(q.spec.preemption.as_ref(), &spec.key("preemption"), &mut cx);
        let fair_weight = q
            .spec
            .fair_sharing
            .as_ref()
            .and_then(|f| f.weight)
            .and_then(|w| cx.non_negative(&spec.key("fairSharing").key("weight"), w));
        self.scenario.cluster.cluster_queues.push(ClusterQueueSpec {
            name: o.name.clone(),
            cohort,
            resource_groups: groups,
            queueing_strategy,
            preemption,
            fair_weight,
        });
    }

    fn configuration(&mut self, o: &Loaded) {
        let Object::Configuration(c) = &o.object else {
            return;
        };
        let mut cx = self.cx(o);
        let spec = Path::root().key("spec");
        let scoring = cx.one_of(
            &spec.key("scoringStrategy"),
            c.spec.scoring_strategy.as_deref(),
            Scoring::MostAllocated,
            &[
                ("MostAllocated", Scoring::MostAllocated),
                ("LeastAllocated", Scoring::LeastAllocated),
                ("BalancedAllocation", Scoring::BalancedAllocation),
                ("LeastNUMANodes", Scoring::LeastNUMANodes),
            ],
        );
        let mut levels: Vec<TopologyLevelSpec> = Vec::new();
        for (i, l) in c.spec.topology_levels.iter().enumerate() {
            let p = spec.key("topologyLevels").index(i);
            if l.name.is_empty() {
                cx.error(&p.key("name"), "required");
            } else if levels.iter().any(|x| x.name == l.name) {
                cx.error(
                    &p.key("name"),
                    format!("level {:?} is listed twice", l.name),
                );
            }
            if l.node_label.is_empty() {
                cx.error(
                    &p.key("nodeLabel"),
                    "required: the node label holding the level",
                );
            }
            levels.push(TopologyLevelSpec {
                name: l.name.clone(),
                node_label: l.node_label.clone(),
            });
        }
        drop(cx);
        self.scenario.scoring = scoring;
        self.scenario.cluster.topology_levels = levels;
        let mut cx = self.cx(o);
        let path = spec.key("fairSharing");
        let Some(fs) = &c.spec.fair_sharing else {
            return;
        };
        let mut strategies = Vec::new();
        for (i, s) in fs.preemption_strategies.iter().enumerate() {
            let strategy = match s.as_str() {
                "LessThanOrEqualToFinalShare" => FairShareStrategy::LessThanOrEqualToFinalShare,
                "LessThanInitialShare" => FairShareStrategy::LessThanInitialShare,
                _ => {
                    cx.error(
                        &path.key("preemptionStrategies").index(i),
                        format!("unknown value {s:?} (use LessThanOrEqualToFinalShare, LessThanInitialShare)"),
                    );
                    continue;
                }
            };
            if strategies.contains(&strategy) {
                cx.error(
                    &path.key("preemptionStrategies").index(i),
                    format!("{s} is listed twice"),
                );
            }
            strategies.push(strategy);
        }
        if fs.enable {
            let mut spec = FairSharingSpec::default();
            if !strategies.is_empty() {
                spec.preemption_strategies = strategies;
            }
            self.scenario.fair_sharing = Some(spec);
        }
    }

    /// A NodeResourceTopology as the node's NUMA topology: its policy and scope (attributes,
    /// or the older `topologyPolicies` list), and its zones of type `Node` with their
    /// allocatable amounts (capacity where allocatable is not given).
    fn topology(&mut self, o: &Loaded, nodes: &BTreeSet<String>) -> Option<NodeTopologySpec> {
        let Object::NodeResourceTopology(t) = &o.object else {
            return None;
        };
        let mut cx = self.cx(o);
        if !nodes.contains(&o.name) {
            cx.error(&name_path(), format!("no Node named {:?}", o.name));
        }
        let mut out = NodeTopologySpec::default();
        // The v1alpha1-style list, overridden by the v1alpha2 attributes when they are given.
        for (i, p) in t.topology_policies.iter().enumerate() {
            let (policy, scope) = match p.as_str() {
                "SingleNUMANodeContainerLevel" => {
                    (TopologyPolicy::SingleNumaNode, TopologyScope::Container)
                }
                "SingleNUMANodePodLevel" => (TopologyPolicy::SingleNumaNode, TopologyScope::Pod),
                "Restricted" | "RestrictedContainerLevel" => {
                    (TopologyPolicy::Restricted, TopologyScope::Container)
                }
                "RestrictedPodLevel" => (TopologyPolicy::Restricted, TopologyScope::Pod),
                "BestEffort" | "BestEffortContainerLevel" => {
                    (TopologyPolicy::BestEffort, TopologyScope::Container)
                }
                "BestEffortPodLevel" => (TopologyPolicy::BestEffort, TopologyScope::Pod),
                "None" => (TopologyPolicy::None, TopologyScope::Container),
                other => {
                    cx.error(
                        &Path::root().key("topologyPolicies").index(i),
                        format!(
                            "unknown value {other:?} (use SingleNUMANodeContainerLevel, SingleNUMANodePodLevel, RestrictedContainerLevel, RestrictedPodLevel, BestEffortContainerLevel, BestEffortPodLevel, Restricted, BestEffort, None)"
                        ),
                    );
                    continue;
                }
            };
            out.policy = policy;
            out.scope = scope;
        }
        for (i, a) in t.attributes.iter().enumerate() {
            let p = Path::root().key("attributes").index(i).key("value");
            match a.name.as_str() {
                "topologyManagerPolicy" => {
                    out.policy = cx.one_of(
                        &p,
                        Some(a.value.as_str()),
                        TopologyPolicy::None,
                        &[
                            ("none", TopologyPolicy::None),
                            ("best-effort", TopologyPolicy::BestEffort),
                            ("restricted", TopologyPolicy::Restricted),
                            ("single-numa-node", TopologyPolicy::SingleNumaNode),
                        ],
                    );
                }
                "topologyManagerScope" => {
                    out.scope = cx.one_of(
                        &p,
                        Some(a.value.as_str()),
                        TopologyScope::Container,
                        &[
                            ("container", TopologyScope::Container),
                            ("pod", TopologyScope::Pod),
                        ],
                    );
                }
                _ => {}
            }
        }
        let mut names = BTreeSet::new();
        for (zi, z) in t.zones.iter().enumerate() {
            let zp = Path::root().key("zones").index(zi);
            if z.name.is_empty() {
                cx.error(&zp.key("name"), "required");
            } else if z.zone_type == "Node" && !names.insert(z.name.as_str()) {
                cx.error(
                    &zp.key("name"),
                    format!("zone {:?} is listed twice", z.name),
                );
            }
            let mut zone = ZoneSpec {
                name: z.name.clone(),
                allocatable: BTreeMap::new(),
            };
            for (ri, r) in z.resources.iter().enumerate() {
                let rp = zp.key("resources").index(ri);
                let mut read = BTreeMap::new();
                for (field, v) in [
                    ("capacity", r.capacity),
                    ("allocatable", r.allocatable),
                    ("available", r.available),
                ] {
                    if let Some(v) = v
                        && let Some(q) = cx.non_negative(&rp.key(field), v)
                    {
                        read.insert(field, q);
                    }
                }
                if r.name.is_empty() {
                    cx.error(&rp.key("name"), "required");
                    continue;
                }
                let Some(q) = read.get("allocatable").or(read.get("capacity")) else {
                    cx.error(
                        &rp.key("allocatable"),
                        "required: how much of the resource the zone can give pods",
                    );
                    continue;
                };
                if zone.allocatable.insert(r.name.clone(), *q).is_some() {
                    cx.error(
                        &rp.key("name"),
                        format!("resource {:?} is listed twice", r.name),
                    );
                }
            }
            // Only NUMA nodes are zones pods are aligned to (sockets, caches are not).
            if z.zone_type == "Node" {
                out.zones.push(zone);
            }
        }
        if out.zones.is_empty() {
            cx.error(
                &Path::root().key("zones"),
                "no zone of type Node: NUMA alignment needs the node's NUMA zones",
            );
        }
        Some(out)
    }

    fn job(&mut self, o: &Loaded, refs: &Refs<'_>) {
        let Object::Job(job) = &o.object else { return };
        let live = self.live;
        let mut cx = self.cx(o);
        let labels = job.metadata.labels.clone().unwrap_or_default();
        let label_path = Path::root().key("metadata").key("labels").key(QUEUE_LABEL);
        let cluster_queue = match labels.get(QUEUE_LABEL) {
            None => {
                let p = Path::root().key("metadata").key("labels");
                cx.error(
                    &p.key(QUEUE_LABEL),
                    "required: the LocalQueue to submit the Job to",
                );
                None
            }
            Some(lq) => refs.cluster_queue(o, lq, &label_path, &mut cx),
        };
        let spec = job.spec.clone().unwrap_or_default();
        let spec_path = Path::root().key("spec");
        let count = spec.parallelism.unwrap_or(1);
        if count < 1 {
            cx.error(
                &spec_path.key("parallelism"),
                "must be at least 1 to simulate the Job",
            );
        }
        let runtime_limit = runtime_limit(
            spec.active_deadline_seconds,
            &spec_path.key("activeDeadlineSeconds"),
            &mut cx,
        );
        let template_path = spec_path.key("template");
        let pod_set = pod_set(
            "main",
            count.max(1) as u32,
            &spec.template,
            &template_path,
            &mut cx,
        );
        let priority = refs.priority(
            pod_spec_priority(&spec.template),
            &template_path.key("spec").key("priorityClassName"),
            &mut cx,
        );
        let sim = if live {
            Some((Duration::ZERO, Duration::ZERO))
        } else {
            sim_annotations(job.metadata.annotations.as_ref(), &mut cx)
        };
        let levels = std::mem::take(&mut self.scenario.cluster.topology_levels);
        let topology =
            topology_request(job.metadata.annotations.as_ref(), &levels, &mut self.cx(o));
        self.scenario.cluster.topology_levels = levels;
        self.push_workload(
            o,
            cluster_queue,
            sim,
            priority,
            vec![pod_set],
            (runtime_limit, topology),
        );
    }

    fn workload(&mut self, o: &Loaded, refs: &Refs<'_>) {
        let Object::Workload(w) = &o.object else {
            return;
        };
        let live = self.live;
        let mut cx = self.cx(o);
        let spec_path = Path::root().key("spec");
        let cluster_queue = if w.spec.queue_name.is_empty() {
            cx.error(
                &spec_path.key("queueName"),
                "required: the LocalQueue to submit to",
            );
            None
        } else {
            refs.cluster_queue(o, &w.spec.queue_name, &spec_path.key("queueName"), &mut cx)
        };
        let priority = refs.priority(
            w.spec.priority_class_name.as_deref(),
            &spec_path.key("priorityClassName"),
            &mut cx,
        );
        let runtime_limit = runtime_limit(
            w.spec.maximum_execution_time_seconds,
            &spec_path.key("maximumExecutionTimeSeconds"),
            &mut cx,
        );
        let sets_path = spec_path.key("podSets");
        if w.spec.pod_sets.is_empty() {
            cx.error(&sets_path, "at least one pod set is required");
        }
        let max = muster_core::shape::MAX_POD_SETS;
        if w.spec.pod_sets.len() > max {
            cx.error(
                &sets_path,
                format!("at most {max} pod sets, got {}", w.spec.pod_sets.len()),
            );
        }
        let mut names = BTreeSet::new();
        let mut pod_sets = Vec::new();
        let mut min_count_used = false;
        for (i, ps) in w.spec.pod_sets.iter().enumerate() {
            let p = sets_path.index(i);
            if ps.name.is_empty() {
                cx.error(&p.key("name"), "required");
            } else if !names.insert(ps.name.as_str()) {
                cx.error(
                    &p.key("name"),
                    format!("pod set {:?} is defined twice", ps.name),
                );
            }
            let count = match ps.count {
                Some(c) if c >= 1 && c <= i64::from(u32::MAX) => c as u32,
                Some(c) => {
                    cx.error(&p.key("count"), format!("must be at least 1, got {c}"));
                    1
                }
                None => {
                    cx.error(&p.key("count"), "required");
                    1
                }
            };
            if let Some(min) = ps.min_count {
                min_count_used = true;
                if min < 1 || min > i64::from(count) {
                    cx.error(
                        &p.key("minCount"),
                        format!("must be between 1 and count ({count}), got {min}"),
                    );
                }
            }
            pod_sets.push(pod_set(
                &ps.name,
                count,
                &ps.template,
                &p.key("template"),
                &mut cx,
            ));
        }
        let sim = if live {
            Some((Duration::ZERO, Duration::ZERO))
        } else {
            sim_annotations(w.metadata.annotations.as_ref(), &mut cx)
        };
        if min_count_used {
            self.warnings.push(Warning(o.error(
                &sets_path,
                "minCount is validated but partial admission is not implemented yet: the whole count is admitted or none",
            )));
        }
        let levels = std::mem::take(&mut self.scenario.cluster.topology_levels);
        let topology = topology_request(w.metadata.annotations.as_ref(), &levels, &mut self.cx(o));
        self.scenario.cluster.topology_levels = levels;
        self.push_workload(
            o,
            cluster_queue,
            sim,
            priority,
            pod_sets,
            (runtime_limit, topology),
        );
    }

    /// Adds a Job's or Workload's workload when its queue and annotations resolved.
    fn push_workload(
        &mut self,
        o: &Loaded,
        cluster_queue: Option<String>,
        sim: Option<(Duration, Duration)>,
        priority: i32,
        pod_sets: Vec<PodSetSpec>,
        (runtime_limit, topology): (Option<Duration>, Option<TopologyRequestSpec>),
    ) {
        let (Some(cluster_queue), Some((submit_after, duration))) = (cluster_queue, sim) else {
            return;
        };
        self.scenario.workloads.push(ScenarioWorkload {
            spec: WorkloadSpec {
                namespace: o.namespace.clone().unwrap_or_default(),
                name: o.name.clone(),
                cluster_queue,
                priority,
                pod_sets,
                runtime_limit,
                topology,
            },
            kind: o.object.kind(),
            submit_after,
            duration,
            recorded_wait: None,
        });
    }
}

/// The network-topology annotation of a Job or Workload, if any: one of
/// `muster.dev/topology-required` and `muster.dev/topology-preferred`, naming a configured
/// level when levels are configured.
fn topology_request(
    annotations: Option<&BTreeMap<String, String>>,
    levels: &[TopologyLevelSpec],
    cx: &mut Ctx<'_>,
) -> Option<TopologyRequestSpec> {
    let path = Path::root().key("metadata").key("annotations");
    let mut found = None;
    for (key, required) in [(TOPOLOGY_REQUIRED, true), (TOPOLOGY_PREFERRED, false)] {
        let Some(level) = annotations.and_then(|a| a.get(key)) else {
            continue;
        };
        let p = path.key(key);
        if level.is_empty() {
            cx.error(&p, "names no level (e.g. rack, block, hostname)");
            continue;
        }
        if !levels.is_empty() && !levels.iter().any(|l| l.name == *level) {
            let names: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
            cx.error(
                &p,
                format!(
                    "unknown topology level {level:?} (the Configuration defines {})",
                    names.join(", ")
                ),
            );
            continue;
        }
        if found.is_some() {
            cx.error(
                &p,
                format!("give one of {TOPOLOGY_REQUIRED} and {TOPOLOGY_PREFERRED}, not both"),
            );
            continue;
        }
        found = Some(TopologyRequestSpec {
            level: level.clone(),
            required,
        });
    }
    found
}

/// A declared runtime limit in seconds (at least 1).
fn runtime_limit(seconds: Option<i64>, path: &Path, cx: &mut Ctx<'_>) -> Option<Duration> {
    let s = seconds?;
    if s < 1 {
        cx.error(path, "must be at least 1");
        return None;
    }
    Some(Duration::from_secs(s))
}

#[derive(Default)]
struct Priorities {
    by_name: BTreeMap<String, i32>,
    default: i32,
}

struct Refs<'a> {
    priorities: &'a Priorities,
    local_queues: &'a BTreeMap<(String, String), String>,
    rejected: &'a BTreeSet<String>,
}

impl Refs<'_> {
    fn cluster_queue(
        &self,
        o: &Loaded,
        local_queue: &str,
        path: &Path,
        cx: &mut Ctx<'_>,
    ) -> Option<String> {
        let ns = o.namespace.clone().unwrap_or_default();
        match self
            .local_queues
            .get(&(ns.clone(), local_queue.to_string()))
        {
            Some(cq) => Some(cq.clone()),
            None => {
                let label = format!("LocalQueue \"{ns}/{local_queue}\"");
                if self.rejected.contains(&label) {
                    cx.error(path, format!("{label} is not active: see its status"));
                } else {
                    cx.error(path, format!("unknown LocalQueue \"{ns}/{local_queue}\""));
                }
                None
            }
        }
    }

    fn priority(&self, class: Option<&str>, path: &Path, cx: &mut Ctx<'_>) -> i32 {
        match class.filter(|c| !c.is_empty()) {
            None => self.priorities.default,
            Some(name) => match self.priorities.by_name.get(name) {
                Some(v) => *v,
                None => {
                    cx.error(path, format!("unknown PriorityClass {name:?}"));
                    0
                }
            },
        }
    }
}

fn pod_spec_priority(t: &PodTemplateSpec) -> Option<&str> {
    t.spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
}

fn pod_set(
    name: &str,
    count: u32,
    template: &PodTemplateSpec,
    path: &Path,
    cx: &mut Ctx<'_>,
) -> PodSetSpec {
    let spec_path = path.key("spec");
    let Some(spec) = &template.spec else {
        cx.error(&spec_path, "required: the pod spec with its containers");
        return PodSetSpec {
            name: name.to_string(),
            count,
            ..PodSetSpec::default()
        };
    };
    let requests = pod_requests(spec, &spec_path, cx);
    PodSetSpec {
        name: name.to_string(),
        count,
        request: requests.effective,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        tolerations: tolerations(
            spec.tolerations.as_deref().unwrap_or(&[]),
            &spec_path.key("tolerations"),
            cx,
        ),
        containers: requests.containers,
        init_containers: requests.init_containers,
        guaranteed: requests.guaranteed,
    }
}

/// The simulation annotations: (submit after, duration); `None` after recording errors.
fn sim_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    cx: &mut Ctx<'_>,
) -> Option<(Duration, Duration)> {
    let path = Path::root().key("metadata").key("annotations");
    let get = |k: &str| annotations.and_then(|a| a.get(k));
    let submit_after = match get(SUBMIT_AFTER) {
        None => Some(Duration::ZERO),
        Some(v) => cx.duration(&path.key(SUBMIT_AFTER), v),
    };
    let duration = match get(SIM_DURATION) {
        None => {
            cx.error(
                &path.key(SIM_DURATION),
                "required in simulation: how long the workload runs once admitted",
            );
            None
        }
        Some(v) => cx.duration(&path.key(SIM_DURATION), v),
    };
    Some((submit_after?, duration?))
}

fn preemption(p: Option<&ClusterQueuePreemption>, path: &Path, cx: &mut Ctx<'_>) -> PreemptionSpec {
    let Some(p) = p else {
        return PreemptionSpec::default();
    };
    let within_cluster_queue = cx.one_of(
        &path.key("withinClusterQueue"),
        p.within_cluster_queue.as_deref(),
        WithinClusterQueue::Never,
        &[
            ("Never", WithinClusterQueue::Never),
            ("LowerPriority", WithinClusterQueue::LowerPriority),
            (
                "LowerOrNewerEqualPriority",
                WithinClusterQueue::LowerOrNewerEqualPriority,
            ),
        ],
    );
    let reclaim_within_cohort = cx.one_of(
        &path.key("reclaimWithinCohort"),
        p.reclaim_within_cohort.as_deref(),
        ReclaimWithinCohort::Never,
        &[
            ("Never", ReclaimWithinCohort::Never),
            ("LowerPriority", ReclaimWithinCohort::LowerPriority),
            ("Any", ReclaimWithinCohort::Any),
        ],
    );
    let borrow_within_cohort = match &p.borrow_within_cohort {
        None => BorrowWithinCohort::Never,
        Some(b) => {
            let bp = path.key("borrowWithinCohort");
            let lower = cx.one_of(
                &bp.key("policy"),
                b.policy.as_deref(),
                false,
                &[("Never", false), ("LowerPriority", true)],
            );
            if lower {
                if reclaim_within_cohort == ReclaimWithinCohort::Never {
                    cx.error(
                        &bp.key("policy"),
                        "LowerPriority requires reclaimWithinCohort other than Never",
                    );
                }
                BorrowWithinCohort::LowerPriority {
                    max_priority_threshold: b.max_priority_threshold,
                }
            } else {
                BorrowWithinCohort::Never
            }
        }
    };
    PreemptionSpec {
        within_cluster_queue,
        reclaim_within_cohort,
        borrow_within_cohort,
    }
}

/// Validates resource groups (Kueue's rules) and converts them.
fn resource_groups(
    groups: &[ResourceGroup],
    path: &Path,
    flavors: &BTreeSet<String>,
    has_parent: bool,
    cx: &mut Ctx<'_>,
) -> Vec<ResourceGroupSpec> {
    let mut covered_anywhere: BTreeSet<&str> = BTreeSet::new();
    let mut flavors_anywhere: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        let gp = path.index(gi);
        let mut ok = true;
        if g.covered_resources.is_empty() {
            cx.error(
                &gp.key("coveredResources"),
                "at least one resource is required",
            );
            ok = false;
        }
        for (ri, r) in g.covered_resources.iter().enumerate() {
            if !covered_anywhere.insert(r.as_str()) {
                cx.error(
                    &gp.key("coveredResources").index(ri),
                    format!("resource {r:?} is covered twice (each resource belongs to one resource group)"),
                );
                ok = false;
            }
        }
        if g.flavors.is_empty() {
            cx.error(&gp.key("flavors"), "at least one flavor is required");
            ok = false;
        }
        let mut flavor_specs = Vec::new();
        for (fi, f) in g.flavors.iter().enumerate() {
            let fp = gp.key("flavors").index(fi);
            if f.name.is_empty() {
                cx.error(&fp.key("name"), "required");
                ok = false;
            } else if !flavors.contains(&f.name) {
                cx.error(
                    &fp.key("name"),
                    format!("unknown ResourceFlavor {:?}", f.name),
                );
                ok = false;
            } else if !flavors_anywhere.insert(f.name.as_str()) {
                cx.error(
                    &fp.key("name"),
                    format!(
                        "flavor {:?} is listed twice (a flavor belongs to one resource group)",
                        f.name
                    ),
                );
                ok = false;
            }
            if f.resources.len() != g.covered_resources.len() {
                cx.error(
                    &fp.key("resources"),
                    format!(
                        "lists {} resources but coveredResources has {}; list each covered resource once, in order",
                        f.resources.len(),
                        g.covered_resources.len()
                    ),
                );
                ok = false;
            }
            let mut resources = Vec::new();
            for (ri, r) in f.resources.iter().enumerate() {
                let rp = fp.key("resources").index(ri);
                if let Some(expected) = g.covered_resources.get(ri)
                    && &r.name != expected
                {
                    cx.error(
                        &rp.key("name"),
                        format!(
                            "expected {expected:?} (coveredResources[{ri}]), got {:?}",
                            r.name
                        ),
                    );
                    ok = false;
                }
                let nominal = match r.nominal_quota {
                    None => {
                        cx.error(&rp.key("nominalQuota"), "required");
                        ok = false;
                        Quantity::ZERO
                    }
                    Some(v) => cx
                        .non_negative(&rp.key("nominalQuota"), v)
                        .unwrap_or_else(|| {
                            ok = false;
                            Quantity::ZERO
                        }),
                };
                let mut limit = |field: &str,
                                 v: Option<crate::objects::Qty>,
                                 ok: &mut bool|
                 -> Option<Quantity> {
                    let v = v?;
                    if !has_parent {
                        cx.error(
                            &rp.key(field),
                            "may only be set when there is a cohort to borrow from or lend to",
                        );
                        *ok = false;
                        return None;
                    }
                    let q = cx.non_negative(&rp.key(field), v);
                    if q.is_none() {
                        *ok = false;
                    }
                    q
                };
                let borrowing_limit = limit("borrowingLimit", r.borrowing_limit, &mut ok);
                let lending_limit = limit("lendingLimit", r.lending_limit, &mut ok);
                if let Some(ll) = lending_limit
                    && ll > nominal
                {
                    cx.error(
                        &rp.key("lendingLimit"),
                        format!("{ll} exceeds nominalQuota {nominal}"),
                    );
                    ok = false;
                }
                resources.push(ResourceQuotaSpec {
                    name: r.name.clone(),
                    nominal,
                    borrowing_limit,
                    lending_limit,
                });
            }
            flavor_specs.push(FlavorQuotaSpec {
                name: f.name.clone(),
                resources,
            });
        }
        if ok {
            out.push(ResourceGroupSpec {
                covered_resources: g.covered_resources.clone(),
                flavors: flavor_specs,
            });
        }
    }
    out
}
