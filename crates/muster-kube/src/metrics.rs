//! Prometheus metrics of the controller (`prometheus-client`, the Prometheus project's own
//! Rust client), served as text on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming a ClusterQueue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// The ClusterQueue.
    pub cluster_queue: String,
}

/// Labels naming a preemption reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Kueue's reason: InClusterQueue, InCohortReclamation, ...
    pub reason: String,
}

fn wait_histogram() -> Histogram {
    // 1 s to about 9 h.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    /// Workloads waiting, per ClusterQueue.
    pub pending_workloads: Family<QueueLabels, Gauge>,
    /// Workloads admitted and not finished, per ClusterQueue.
    pub admitted_workloads: Family<QueueLabels, Gauge>,
    /// Time from queueing to admission, per ClusterQueue.
    pub admission_wait: Family<QueueLabels, Histogram, fn() -> Histogram>,
    /// Preemptions, per reason.
    pub preemptions: Family<ReasonLabels, Counter>,
    /// Time a scheduling cycle takes (snapshot, core and planning; not the writes).
    pub cycle_duration: Histogram,
    /// API writes that failed.
    pub write_errors: Counter,
    /// 1 while this replica is the leader.
    pub leader: Gauge,
    /// Pods bound to the nodes Muster planned.
    pub binds: Counter,
    /// Binds that failed (their gang is planned again).
    pub bind_failures: Counter,
    /// Time from a gang's first bind request to its last answer.
    pub gang_bind_duration: Histogram,
    /// Pods the kubelet rejected with a Topology Affinity Error (their gang is planned
    /// again).
    pub topology_affinity_errors: Counter,
    /// Gangs planned again as a whole, by reason (NodeGone, BindFailed,
    /// TopologyAffinityError, PodsMissing).
    pub replans: Family<ReasonLabels, Counter>,
    /// Admitted gangs waiting for all their pods to exist before they are bound.
    pub gangs_waiting_for_pods: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, registered under the `muster_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("muster");
        let pending_workloads = Family::default();
        let admitted_workloads = Family::default();
        let admission_wait =
            Family::<QueueLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                wait_histogram,
            );
        let preemptions = Family::default();
        let cycle_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let write_errors = Counter::default();
        let leader = Gauge::default();
        let binds = Counter::default();
        let bind_failures = Counter::default();
        let gang_bind_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let topology_affinity_errors = Counter::default();
        let replans = Family::default();
        let gangs_waiting_for_pods = Gauge::default();
        registry.register(
            "gangs_waiting_for_pods",
            "Admitted gangs waiting for all their pods to exist before they are bound",
            gangs_waiting_for_pods.clone(),
        );
        registry.register(
            "binds",
            "Pods bound to the nodes Muster planned",
            binds.clone(),
        );
        registry.register(
            "bind_failures",
            "Pod binds that failed (the gang is planned again)",
            bind_failures.clone(),
        );
        registry.register(
            "gang_bind_duration_seconds",
            "Time from a gang's first bind request to its last answer",
            gang_bind_duration.clone(),
        );
        registry.register(
            "topology_affinity_errors",
            "Pods the kubelet rejected with a Topology Affinity Error",
            topology_affinity_errors.clone(),
        );
        registry.register(
            "gang_replans",
            "Admitted gangs planned again as a whole, by reason",
            replans.clone(),
        );
        registry.register(
            "pending_workloads",
            "Workloads waiting in a ClusterQueue",
            pending_workloads.clone(),
        );
        registry.register(
            "admitted_workloads",
            "Workloads admitted by a ClusterQueue and not finished",
            admitted_workloads.clone(),
        );
        registry.register(
            "admission_wait_time_seconds",
            "Time from queueing (or requeueing) to admission",
            admission_wait.clone(),
        );
        registry.register(
            "preempted_workloads",
            "Workloads preempted, by reason",
            preemptions.clone(),
        );
        registry.register(
            "cycle_duration_seconds",
            "Time a scheduling cycle takes to decide (not counting API writes)",
            cycle_duration.clone(),
        );
        registry.register(
            "api_write_errors",
            "API writes that failed (retried by a later cycle)",
            write_errors.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Metrics {
            registry,
            pending_workloads,
            admitted_workloads,
            admission_wait,
            preemptions,
            cycle_duration,
            write_errors,
            leader,
            binds,
            bind_failures,
            gang_bind_duration,
            topology_affinity_errors,
            replans,
            gangs_waiting_for_pods,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Records what a cycle's plan did.
    pub fn record_plan(&self, plan: &crate::plan::Plan) {
        for (cq, wait) in &plan.admissions {
            self.admission_wait
                .get_or_create(&QueueLabels {
                    cluster_queue: cq.clone(),
                })
                .observe(*wait);
        }
        for reason in &plan.preemptions {
            self.preemptions
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
        for reason in &plan.replans {
            self.replans
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
        self.topology_affinity_errors
            .inc_by(plan.topology_affinity_errors as u64);
        self.gangs_waiting_for_pods
            .set(plan.gangs_waiting_for_pods as i64);
        self.pending_workloads.clear();
        self.admitted_workloads.clear();
        for (cq, (pending, admitted)) in &plan.queue_counts {
            let labels = QueueLabels {
                cluster_queue: cq.clone(),
            };
            self.pending_workloads.get_or_create(&labels).set(*pending);
            self.admitted_workloads
                .get_or_create(&labels)
                .set(*admitted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_every_metric() {
        let m = Metrics::new();
        let plan = crate::plan::Plan {
            admissions: vec![("team-a".into(), 3.0)],
            preemptions: vec!["InClusterQueue"],
            queue_counts: [("team-a".to_string(), (2, 1))].into(),
            ..Default::default()
        };
        m.record_plan(&plan);
        m.cycle_duration.observe(0.002);
        let text = m.encode();
        for needle in [
            "muster_pending_workloads{cluster_queue=\"team-a\"} 2",
            "muster_admitted_workloads{cluster_queue=\"team-a\"} 1",
            "muster_admission_wait_time_seconds_count{cluster_queue=\"team-a\"} 1",
            "muster_preempted_workloads_total{reason=\"InClusterQueue\"} 1",
            "muster_cycle_duration_seconds_count 1",
            "muster_leader 0",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
