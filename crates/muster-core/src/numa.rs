//! NUMA zones: the kubelet's topology manager, restated, so that a pod goes only where the
//! kubelet would admit it, and the zones' usage is counted as the kubelet would allocate it.
//!
//! A node with a NodeResourceTopology has zones (NUMA nodes), each with allocatable amounts
//! of some resources, and a topology manager policy and scope. A pod's *aligned* resources on
//! such a node are those it requests that the node's zones report, except that cpu, memory
//! and hugepages are aligned only for Guaranteed pods (the CPU and memory managers give hints
//! only for them; the device manager gives hints for every pod) — the rule of the
//! NodeResourceTopologyMatch filter. The unit of alignment is each container (scope
//! `container`; init containers are checked but hold nothing afterwards) or the whole pod
//! (scope `pod`, its effective request).
//!
//! Per policy, for one unit:
//! - `single-numa-node`: the lowest-numbered zone that holds every aligned resource, or the
//!   pod is rejected (Topology Affinity Error).
//! - `restricted`: the kubelet admits only a *preferred* merged hint. A resource's hint (a set
//!   of zones with enough free) is preferred when it has as few zones as the resource could
//!   ever need on this node (by the zones' allocatable); the merged hint is the intersection
//!   of one hint per resource and must not be empty. So some zone `z` must, for every aligned
//!   resource, be part of a preferred hint: `z` plus the `k - 1` other zones with the most
//!   free hold the request, `k` being that resource's minimum. The lowest such `z` is chosen;
//!   each resource is taken from `z` first, then from those other zones.
//! - `best-effort`: as `restricted` when a preferred hint exists; otherwise admitted anyway,
//!   taking from the lowest-numbered zones first.
//! - `none`: admitted; taken from the lowest-numbered zones first.
//!
//! What a zone gives never exceeds its free amount, so no zone's usage exceeds its
//! allocatable; under `best-effort` and `none` an unaligned remainder is held at node level
//! only (the node's totals were checked by placement).

use std::collections::BTreeMap;

use crate::ids::{NodeId, ZoneId};
use crate::quantity::Quantity;
use crate::resource::{Request, ResourceId, ResourceTable};
use crate::usage::Scratch;

/// The kubelet's topology manager policy (`--topology-manager-policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopologyPolicy {
    /// No alignment; never rejects.
    #[default]
    None,
    /// Aligns where it can; never rejects.
    BestEffort,
    /// Rejects a pod whose resources cannot come from a preferred (narrowest) set of zones.
    Restricted,
    /// Rejects a pod whose aligned resources cannot all come from one zone.
    SingleNumaNode,
}

impl TopologyPolicy {
    /// The kubelet's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TopologyPolicy::None => "none",
            TopologyPolicy::BestEffort => "best-effort",
            TopologyPolicy::Restricted => "restricted",
            TopologyPolicy::SingleNumaNode => "single-numa-node",
        }
    }

    /// The policy the kubelet spells `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => TopologyPolicy::None,
            "best-effort" => TopologyPolicy::BestEffort,
            "restricted" => TopologyPolicy::Restricted,
            "single-numa-node" => TopologyPolicy::SingleNumaNode,
            _ => return None,
        })
    }
}

/// The kubelet's topology manager scope (`--topology-manager-scope`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopologyScope {
    /// Each container is aligned on its own.
    #[default]
    Container,
    /// The whole pod is aligned as one.
    Pod,
}

impl TopologyScope {
    /// The kubelet's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TopologyScope::Container => "container",
            TopologyScope::Pod => "pod",
        }
    }

    /// The scope the kubelet spells `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "container" => TopologyScope::Container,
            "pod" => TopologyScope::Pod,
            _ => return None,
        })
    }
}

/// One NUMA zone of a node as a NodeResourceTopology reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneSpec {
    /// Zone name, e.g. `node-0`.
    pub name: String,
    /// Allocatable amount of each resource the zone reports.
    pub allocatable: BTreeMap<String, Quantity>,
}

/// A node's NUMA topology: its zones and its kubelet's topology manager settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeTopologySpec {
    /// Topology manager policy.
    pub policy: TopologyPolicy,
    /// Topology manager scope.
    pub scope: TopologyScope,
    /// The zones (any order; they are numbered by the number their name ends with).
    pub zones: Vec<ZoneSpec>,
}

/// What a pod asks of NUMA zones: its QoS and its containers' requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodNuma {
    /// Whether the pod is of Guaranteed QoS (cpu and memory aligned too).
    pub guaranteed: bool,
    /// Each app container's request; empty means one container asking the pod's request.
    pub containers: Vec<Request>,
    /// Each init container's request.
    pub init_containers: Vec<Request>,
}

/// An amount of a resource a pod holds in a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneTake {
    /// The pod's index within its workload (pod sets in order, then pod index).
    pub pod: u32,
    /// The zone.
    pub zone: ZoneId,
    /// The resource.
    pub resource: ResourceId,
    /// How much.
    pub amount: Quantity,
}

/// Where the pods of one admission hold zone resources, and which of them the kubelet would
/// have rejected (only in NUMA-blind placement).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaPlacement {
    /// Zone holdings, by pod.
    pub takes: Vec<ZoneTake>,
    /// Pods (by index) the kubelet would have rejected with a Topology Affinity Error.
    pub affinity_errors: Vec<u32>,
}

impl NumaPlacement {
    /// The zones pod `pod` holds resources in, lowest first.
    pub fn zones_of(&self, pod: u32) -> Vec<ZoneId> {
        let mut zones: Vec<ZoneId> = self
            .takes
            .iter()
            .filter(|t| t.pod == pod)
            .map(|t| t.zone)
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }
}

/// The zones of every node with a topology, with their capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zones {
    resources: usize,
    /// Per node: first zone and number of zones (0: no topology).
    node_zones: Vec<(u32, u32)>,
    /// Per node: policy and scope.
    settings: Vec<(TopologyPolicy, TopologyScope)>,
    names: Vec<String>,
    /// `capacity[zone * resources + resource]`.
    capacity: Vec<Quantity>,
    /// `reported[node * resources + resource]`: some zone of the node reports the resource.
    reported: Vec<bool>,
    /// Per resource: cpu, memory or hugepages (aligned only for Guaranteed pods).
    native: Vec<bool>,
}

/// Why a node's zones cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    /// The node.
    pub node: String,
    /// What is wrong.
    pub message: String,
}

/// The number a zone name ends with (`node-1` → 1), for ordering zones as the kubelet
/// numbers NUMA nodes.
fn zone_number(name: &str) -> Option<u64> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    name[name.len() - digits..].parse().ok()
}

impl Zones {
    /// Zones of `nodes` (in node id order; `None` for a node without a topology).
    pub fn build(
        nodes: &[(&str, Option<&NodeTopologySpec>)],
        resources: &ResourceTable,
    ) -> Result<Zones, ZoneError> {
        let r_count = resources.len();
        let mut z = Zones {
            resources: r_count,
            node_zones: Vec::with_capacity(nodes.len()),
            settings: Vec::with_capacity(nodes.len()),
            names: Vec::new(),
            capacity: Vec::new(),
            reported: vec![false; nodes.len() * r_count],
            native: resources
                .ids()
                .map(|r| {
                    let n = resources.name(r);
                    n == "cpu" || n == "memory" || n.starts_with("hugepages-")
                })
                .collect(),
        };
        for (ni, (node, topo)) in nodes.iter().enumerate() {
            let first = z.names.len() as u32;
            let Some(topo) = topo else {
                z.node_zones.push((first, 0));
                z.settings.push(Default::default());
                continue;
            };
            let mut zones: Vec<&ZoneSpec> = topo.zones.iter().collect();
            zones.sort_by(|a, b| {
                (zone_number(&a.name), &a.name).cmp(&(zone_number(&b.name), &b.name))
            });
            for pair in zones.windows(2) {
                if pair[0].name == pair[1].name {
                    return Err(ZoneError {
                        node: node.to_string(),
                        message: format!("zone {:?} appears twice", pair[0].name),
                    });
                }
            }
            for zone in &zones {
                z.names.push(zone.name.clone());
                let base = z.capacity.len();
                z.capacity.resize(base + r_count, Quantity::ZERO);
                for (name, q) in &zone.allocatable {
                    if let Some(r) = resources.id(name)
                        && r != resources.pods()
                    {
                        z.capacity[base + r.index()] = *q;
                        z.reported[ni * r_count + r.index()] = true;
                    }
                }
            }
            z.node_zones.push((first, zones.len() as u32));
            z.settings.push((topo.policy, topo.scope));
        }
        Ok(z)
    }

    /// Whether no node has a topology.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of usage cells the zones need (zones × resources).
    pub fn cells(&self) -> usize {
        self.capacity.len()
    }

    /// The zones of a node, lowest-numbered first (empty without a topology).
    pub fn of_node(&self, node: NodeId) -> impl Iterator<Item = ZoneId> + use<> {
        let (first, count) = self.node_zones.get(node.index()).copied().unwrap_or((0, 0));
        (first..first + count).map(ZoneId)
    }

    /// Whether a node has a topology.
    pub fn has_topology(&self, node: NodeId) -> bool {
        self.node_zones
            .get(node.index())
            .is_some_and(|&(_, count)| count > 0)
    }

    /// A zone's name.
    pub fn name(&self, zone: ZoneId) -> &str {
        &self.names[zone.index()]
    }

    /// A zone's allocatable amount of a resource.
    pub fn capacity(&self, zone: ZoneId, r: ResourceId) -> Quantity {
        self.capacity[zone.index() * self.resources + r.index()]
    }

    /// The usage cell of (zone, resource).
    pub fn cell(&self, zone: ZoneId, r: ResourceId) -> usize {
        zone.index() * self.resources + r.index()
    }

    /// A node's topology manager policy and scope.
    pub fn settings(&self, node: NodeId) -> (TopologyPolicy, TopologyScope) {
        self.settings[node.index()]
    }

    /// Whether `r` is aligned on `node` for a pod of this QoS.
    fn aligned(&self, node: NodeId, r: ResourceId, guaranteed: bool) -> bool {
        self.reported[node.index() * self.resources + r.index()]
            && (guaranteed || !self.native[r.index()])
    }

    /// Holds a pod's zone resources on `node` in `s` and appends them to `out.takes`: where
    /// the node's kubelet would align them, or, for a pod it would reject (which only a
    /// NUMA-blind placement or a restored admission places), from the lowest zones first,
    /// recording the pod in `out.affinity_errors`.
    pub(crate) fn hold(
        &self,
        s: &mut Scratch,
        node: NodeId,
        ask: (&Request, &PodNuma),
        pod: u32,
        out: &mut NumaPlacement,
    ) {
        if !self.has_topology(node) {
            return;
        }
        let start = out.takes.len();
        if !self.plan(s, node, ask, pod, true, &mut out.takes) {
            out.affinity_errors.push(pod);
            self.plan(s, node, ask, pod, false, &mut out.takes);
        }
        for t in &out.takes[start..] {
            let cell = self.cell(t.zone, t.resource);
            s.set_zone(cell, s.zone(cell) + t.amount);
        }
    }

    /// Decides where a pod's aligned resources come from on `node`, as the node's kubelet
    /// would, and appends the holdings to `out` (pod index `pod`). Returns `false`, with
    /// `out` unchanged, when the kubelet would reject the pod; with `judge` false the pod is
    /// never rejected: what alignment cannot give is taken from the lowest zones first (a
    /// NUMA-blind scheduler's pod, which the kubelet then judges).
    pub(crate) fn plan(
        &self,
        s: &Scratch,
        node: NodeId,
        (pod_request, numa): (&Request, &PodNuma),
        pod: u32,
        judge: bool,
        out: &mut Vec<ZoneTake>,
    ) -> bool {
        if !self.has_topology(node) {
            return true;
        }
        let (policy, scope) = self.settings(node);
        let (first, count) = self.node_zones[node.index()];
        let units: &[Request] = match scope {
            TopologyScope::Container if !numa.containers.is_empty() => &numa.containers,
            _ => std::slice::from_ref(pod_request),
        };
        let inits: &[Request] = match scope {
            TopologyScope::Container => &numa.init_containers,
            TopologyScope::Pod => &[],
        };
        let rejects = judge
            && matches!(
                policy,
                TopologyPolicy::Restricted | TopologyPolicy::SingleNumaNode
            );
        // The common case, one unit under single-numa-node: the lowest zone that holds it,
        // read straight from the usage.
        if policy == TopologyPolicy::SingleNumaNode && units.len() == 1 && inits.is_empty() {
            let unit = &units[0];
            let aligned = |r: ResourceId| self.aligned(node, r, numa.guaranteed);
            if unit.iter().all(|(r, _)| !aligned(r)) {
                return true;
            }
            let holds = |z: u32| {
                unit.iter().all(|(r, q)| {
                    !aligned(r) || {
                        let c = self.cell(ZoneId(z), r);
                        s.zone(c) + q <= self.capacity[c]
                    }
                })
            };
            if let Some(z) = (first..first + count).find(|&z| holds(z)) {
                out.extend(
                    unit.iter()
                        .filter(|&(r, _)| aligned(r))
                        .map(|(r, q)| ZoneTake {
                            pod,
                            zone: ZoneId(z),
                            resource: r,
                            amount: q,
                        }),
                );
                return true;
            }
            if rejects {
                return false;
            }
        }
        PLAN_BUFFERS.with_borrow_mut(|b| {
            self.plan_general(
                s,
                node,
                (units, inits),
                numa.guaranteed,
                (policy, rejects),
                pod,
                out,
                b,
            )
        })
    }

    /// [`Zones::plan`] for any policy, scope and number of containers, on `b`'s buffers.
    #[allow(clippy::too_many_arguments)]
    fn plan_general(
        &self,
        s: &Scratch,
        node: NodeId,
        (units, inits): (&[Request], &[Request]),
        guaranteed: bool,
        (policy, rejects): (TopologyPolicy, bool),
        pod: u32,
        out: &mut Vec<ZoneTake>,
        b: &mut PlanBuffers,
    ) -> bool {
        let (first, count) = self.node_zones[node.index()];
        let zones = count as usize;
        // The aligned resources this pod asks for anywhere, and their amounts per zone.
        b.rs.clear();
        for unit in units.iter().chain(inits) {
            for (r, _) in unit.iter() {
                if self.aligned(node, r, guaranteed) && !b.rs.contains(&r) {
                    b.rs.push(r);
                }
            }
        }
        if b.rs.is_empty() {
            return true;
        }
        b.rs.sort();
        let j_count = b.rs.len();
        b.free.clear();
        b.cap.clear();
        for z in 0..zones {
            let zone = ZoneId(first + z as u32);
            for &r in &b.rs {
                let c = self.cell(zone, r);
                b.cap.push(self.capacity[c].milli());
                b.free.push((self.capacity[c] - s.zone(c)).milli().max(0));
            }
        }
        let PlanBuffers {
            rs,
            free,
            cap,
            need,
            taken,
            trial,
            work,
        } = b;
        let aligner = Aligner {
            zones,
            j_count,
            cap,
        };
        let need_of = |unit: &Request, need: &mut Vec<i128>| {
            need.clear();
            need.extend(rs.iter().map(|&r| unit.get(r).milli()));
        };
        // Init containers run first and one at a time: each must be alignable on its own.
        if rejects {
            for init in inits {
                need_of(init, need);
                trial.clear();
                trial.extend_from_slice(free);
                let mut none = Vec::new();
                if aligner
                    .align(policy, trial, need, &mut none, work)
                    .is_none()
                {
                    return false;
                }
            }
        }
        taken.clear();
        for unit in units {
            need_of(unit, need);
            if aligner.align(policy, free, need, taken, work).is_none() {
                if rejects {
                    return false;
                }
                aligner.fill(free, need, taken);
            }
        }
        let start = out.len();
        for &(z, j, amount) in taken.iter() {
            let t = ZoneTake {
                pod,
                zone: ZoneId(first + z as u32),
                resource: rs[j],
                amount: Quantity::from_milli(amount),
            };
            match out[start..]
                .iter_mut()
                .find(|o| o.zone == t.zone && o.resource == t.resource)
            {
                Some(o) => o.amount += t.amount,
                None => out.push(t),
            }
        }
        out[start..].sort();
        true
    }
}

/// Buffers a plan reuses, so that judging a pod on a node does not allocate.
#[derive(Debug, Default)]
struct PlanBuffers {
    rs: Vec<ResourceId>,
    free: Vec<i128>,
    cap: Vec<i128>,
    need: Vec<i128>,
    taken: Vec<(usize, usize, i128)>,
    trial: Vec<i128>,
    work: AlignWork,
}

/// Working space of [`Aligner::align`].
#[derive(Debug, Default)]
struct AlignWork {
    /// The zones each resource is taken from, `zones` slots per resource.
    picks: Vec<usize>,
    /// How many of each resource's slots are used.
    picked: Vec<usize>,
    others: Vec<usize>,
    caps: Vec<i128>,
}

thread_local! {
    static PLAN_BUFFERS: std::cell::RefCell<PlanBuffers> =
        std::cell::RefCell::new(PlanBuffers::default());
}

/// One node's zones as one plan sees them: `zones` × `j_count` tables of milli-units.
struct Aligner<'a> {
    zones: usize,
    j_count: usize,
    cap: &'a [i128],
}

impl Aligner<'_> {
    /// Aligns one unit asking `need` (per resource) under `policy`, taking from `free` and
    /// recording (zone, resource, amount) in `taken`; `None` when the policy gives no
    /// alignment (the caller rejects or fills).
    fn align(
        &self,
        policy: TopologyPolicy,
        free: &mut [i128],
        need: &[i128],
        taken: &mut Vec<(usize, usize, i128)>,
        w: &mut AlignWork,
    ) -> Option<()> {
        if need.iter().all(|&n| n == 0) {
            return Some(());
        }
        let jc = self.j_count;
        match policy {
            TopologyPolicy::None => None,
            TopologyPolicy::SingleNumaNode => {
                let z = (0..self.zones)
                    .find(|&z| (0..jc).all(|j| need[j] == 0 || free[z * jc + j] >= need[j]))?;
                for (j, &n) in need.iter().enumerate() {
                    if n > 0 {
                        free[z * jc + j] -= n;
                        taken.push((z, j, n));
                    }
                }
                Some(())
            }
            TopologyPolicy::Restricted | TopologyPolicy::BestEffort => {
                w.picks.clear();
                w.picks.resize(self.zones * jc, 0);
                w.picked.clear();
                w.picked.resize(jc, 0);
                'zone: for z in 0..self.zones {
                    for (j, &n) in need.iter().enumerate() {
                        w.picked[j] = 0;
                        if n == 0 {
                            continue;
                        }
                        let k = self.min_zones(j, n, &mut w.caps)?;
                        w.others.clear();
                        w.others.extend((0..self.zones).filter(|&o| o != z));
                        w.others
                            .sort_by_key(|&o| (std::cmp::Reverse(free[o * jc + j]), o));
                        w.others.truncate(k - 1);
                        let held: i128 = free[z * jc + j]
                            + w.others.iter().map(|&o| free[o * jc + j]).sum::<i128>();
                        if held < n {
                            continue 'zone;
                        }
                        let base = j * self.zones;
                        w.picks[base] = z;
                        w.picks[base + 1..base + k].copy_from_slice(&w.others);
                        w.picked[j] = k;
                    }
                    for (j, &n) in need.iter().enumerate() {
                        let mut left = n;
                        let base = j * self.zones;
                        for &zz in &w.picks[base..base + w.picked[j]] {
                            let cell = zz * jc + j;
                            let give = left.min(free[cell]);
                            if give > 0 {
                                free[cell] -= give;
                                taken.push((zz, j, give));
                                left -= give;
                            }
                        }
                    }
                    return Some(());
                }
                None
            }
        }
    }

    /// The fewest zones whose allocatable together holds `n` of resource `j`, if any.
    fn min_zones(&self, j: usize, n: i128, caps: &mut Vec<i128>) -> Option<usize> {
        caps.clear();
        caps.extend((0..self.zones).map(|z| self.cap[z * self.j_count + j]));
        caps.sort_unstable_by(|a, b| b.cmp(a));
        let mut sum = 0;
        for (i, &c) in caps.iter().enumerate() {
            sum += c;
            if sum >= n {
                return Some(i + 1);
            }
        }
        None
    }

    /// Takes what `need` asks from the lowest zones first, never more than is free.
    fn fill(&self, free: &mut [i128], need: &[i128], taken: &mut Vec<(usize, usize, i128)>) {
        for (j, &n) in need.iter().enumerate() {
            let mut left = n;
            for z in 0..self.zones {
                if left == 0 {
                    break;
                }
                let cell = z * self.j_count + j;
                let give = left.min(free[cell]);
                if give > 0 {
                    free[cell] -= give;
                    taken.push((z, j, give));
                    left -= give;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Usage;

    /// One node with zones of (cpu, gpu) each, under `policy` and `scope`.
    struct Fixture {
        table: ResourceTable,
        zones: Zones,
        s: Scratch,
    }

    fn fixture(policy: TopologyPolicy, scope: TopologyScope, zones: &[(i64, i64)]) -> Fixture {
        let table = ResourceTable::new(["cpu", "memory", "nvidia.com/gpu"]);
        let topo = NodeTopologySpec {
            policy,
            scope,
            zones: zones
                .iter()
                .enumerate()
                .rev() // any order: zones are numbered by name
                .map(|(i, &(cpu, gpu))| ZoneSpec {
                    name: format!("node-{i}"),
                    allocatable: [
                        ("cpu".to_string(), Quantity::from_units(cpu)),
                        ("nvidia.com/gpu".to_string(), Quantity::from_units(gpu)),
                    ]
                    .into(),
                })
                .collect(),
        };
        let zones = Zones::build(&[("n", Some(&topo))], &table).unwrap();
        let mut usage = Usage::new(vec![Quantity::ZERO; table.len()].into(), table.len(), 0);
        usage.set_zone_cells(zones.cells());
        Fixture {
            table,
            zones,
            s: Scratch::new(usage),
        }
    }

    impl Fixture {
        fn request(&self, cpu: i64, gpu: i64) -> Request {
            let (c, g) = (
                self.table.id("cpu").unwrap(),
                self.table.id("nvidia.com/gpu").unwrap(),
            );
            Request::new([
                (c, Quantity::from_units(cpu)),
                (g, Quantity::from_units(gpu)),
            ])
        }

        /// Plans a pod of these containers and applies it; the zones it took, by name, or
        /// `None` when rejected.
        fn place(&mut self, containers: &[(i64, i64)], guaranteed: bool) -> Option<Vec<String>> {
            let containers: Vec<Request> = containers
                .iter()
                .map(|&(c, g)| self.request(c, g))
                .collect();
            let pod = containers.iter().fold(self.request(0, 0), |acc, c| {
                Request::new(acc.iter().chain(c.iter()))
            });
            let numa = PodNuma {
                guaranteed,
                containers,
                init_containers: Vec::new(),
            };
            let mut out = Vec::new();
            if !self
                .zones
                .plan(&self.s, NodeId(0), (&pod, &numa), 0, true, &mut out)
            {
                return None;
            }
            for t in &out {
                let cell = self.zones.cell(t.zone, t.resource);
                self.s.set_zone(cell, self.s.zone(cell) + t.amount);
            }
            let mut names: Vec<String> = out
                .iter()
                .map(|t| self.zones.name(t.zone).to_string())
                .collect();
            names.dedup();
            Some(names)
        }
    }

    fn zones(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn single_numa_node_takes_the_lowest_zone_that_fits_or_rejects() {
        use TopologyPolicy::SingleNumaNode;
        let mut f = fixture(SingleNumaNode, TopologyScope::Pod, &[(4, 2), (4, 2)]);
        assert_eq!(f.place(&[(3, 1)], true), zones(&["node-0"]));
        assert_eq!(f.place(&[(3, 1)], true), zones(&["node-1"]));
        // 2 cpu free in total, 1 in each zone.
        assert_eq!(f.place(&[(2, 0)], true), None);
        assert_eq!(f.place(&[(1, 1)], true), zones(&["node-0"]));
    }

    #[test]
    fn container_scope_aligns_each_container_and_pod_scope_the_whole_pod() {
        use TopologyPolicy::SingleNumaNode;
        let mut c = fixture(SingleNumaNode, TopologyScope::Container, &[(4, 0), (4, 0)]);
        assert_eq!(
            c.place(&[(3, 0), (3, 0)], true),
            zones(&["node-0", "node-1"])
        );
        let mut p = fixture(SingleNumaNode, TopologyScope::Pod, &[(4, 0), (4, 0)]);
        assert_eq!(p.place(&[(3, 0), (3, 0)], true), None);
        assert_eq!(p.place(&[(2, 0), (2, 0)], true), zones(&["node-0"]));
    }

    #[test]
    fn cpu_is_aligned_only_for_guaranteed_pods_and_devices_always() {
        let mut f = fixture(
            TopologyPolicy::SingleNumaNode,
            TopologyScope::Pod,
            &[(4, 2), (4, 2)],
        );
        // Burstable: 6 cpu come from the shared pool; the GPU is aligned.
        assert_eq!(f.place(&[(6, 1)], false), zones(&["node-0"]));
        assert_eq!(f.place(&[(6, 0)], false), Some(vec![]));
        // The zones' cpu is untouched: a Guaranteed 4-cpu pod still fits node-0.
        assert_eq!(f.place(&[(4, 0)], true), zones(&["node-0"]));
        // Three GPUs fit no zone, whatever the QoS.
        assert_eq!(f.place(&[(0, 3)], false), None);
    }

    #[test]
    fn restricted_admits_only_the_narrowest_hints() {
        let mut f = fixture(
            TopologyPolicy::Restricted,
            TopologyScope::Pod,
            &[(4, 0), (4, 0)],
        );
        // 6 cpu need two zones at least: spanning both is preferred (taken from the lower
        // zone first).
        assert_eq!(f.place(&[(6, 0)], true), zones(&["node-0", "node-1"]));
        assert_eq!(f.place(&[(2, 0)], true), zones(&["node-1"]));
        let mut f = fixture(
            TopologyPolicy::Restricted,
            TopologyScope::Pod,
            &[(4, 0), (4, 0)],
        );
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-0"]));
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-1"]));
        // 1 cpu left in each zone. 2 cpu would fit one empty zone, so a two-zone hint is
        // not preferred: rejected.
        assert_eq!(f.place(&[(2, 0)], true), None);
        assert_eq!(f.place(&[(1, 0)], true), zones(&["node-0"]));
    }

    #[test]
    fn best_effort_aligns_when_it_can_and_never_rejects() {
        let mut f = fixture(
            TopologyPolicy::BestEffort,
            TopologyScope::Pod,
            &[(4, 0), (4, 0)],
        );
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-0"]));
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-1"]));
        // 2 cpu: no zone has 2, so no preferred hint; admitted, taken from both.
        assert_eq!(f.place(&[(2, 0)], true), zones(&["node-0", "node-1"]));
        // Nothing left in any zone: admitted, no zone gives more than it has.
        assert_eq!(f.place(&[(2, 0)], true), Some(vec![]));
    }

    #[test]
    fn none_takes_the_lowest_zones_first_and_never_rejects() {
        let mut f = fixture(TopologyPolicy::None, TopologyScope::Pod, &[(4, 0), (4, 0)]);
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-0"]));
        assert_eq!(f.place(&[(3, 0)], true), zones(&["node-0", "node-1"]));
        assert_eq!(f.place(&[(2, 0)], true), zones(&["node-1"]));
        assert_eq!(f.place(&[(2, 0)], true), Some(vec![]));
        let cpu = f.table.id("cpu").unwrap();
        for z in f.zones.of_node(NodeId(0)) {
            assert_eq!(f.s.zone(f.zones.cell(z, cpu)), f.zones.capacity(z, cpu));
        }
    }

    #[test]
    fn init_containers_must_each_be_alignable_under_container_scope() {
        let f = fixture(
            TopologyPolicy::SingleNumaNode,
            TopologyScope::Container,
            &[(4, 0), (4, 0)],
        );
        let pod = f.request(5, 0);
        let numa = PodNuma {
            guaranteed: true,
            containers: vec![f.request(1, 0)],
            init_containers: vec![f.request(5, 0)],
        };
        let mut out = Vec::new();
        assert!(
            !f.zones
                .plan(&f.s, NodeId(0), (&pod, &numa), 0, true, &mut out)
        );
        // Judging off (a NUMA-blind placement): taken all the same, app containers only.
        assert!(
            f.zones
                .plan(&f.s, NodeId(0), (&pod, &numa), 0, false, &mut out)
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].amount, Quantity::from_units(1));
    }

    #[test]
    fn zones_are_numbered_by_the_number_in_their_name() {
        let table = ResourceTable::new(["cpu"]);
        let topo = NodeTopologySpec {
            zones: ["node-10", "node-2", "node-1"]
                .iter()
                .map(|n| ZoneSpec {
                    name: n.to_string(),
                    ..ZoneSpec::default()
                })
                .collect(),
            ..NodeTopologySpec::default()
        };
        let zones = Zones::build(&[("n", None), ("m", Some(&topo))], &table).unwrap();
        let names: Vec<&str> = zones.of_node(NodeId(1)).map(|z| zones.name(z)).collect();
        assert_eq!(names, ["node-1", "node-2", "node-10"]);
        assert!(!zones.has_topology(NodeId(0)));
        let twice = NodeTopologySpec {
            zones: vec![ZoneSpec::default(), ZoneSpec::default()],
            ..NodeTopologySpec::default()
        };
        assert!(Zones::build(&[("n", Some(&twice))], &table).is_err());
    }
}
